// Opaque page tokens for list methods. A token records the upstream page to
// read next, the page size and a fingerprint of the request's filters, so a
// token used with other filters is refused instead of returning a page of a
// different listing.
#ifndef TL_GATEWAY_SERVER_SERVICES_PAGE_TOKEN_H_
#define TL_GATEWAY_SERVER_SERVICES_PAGE_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tlgw {

struct PageToken {
  int64_t page = 1;        // 1-based, or an offset for local listings
  int64_t page_size = 0;
  std::string filters;     // a fingerprint of the filters
};

std::string EncodePageToken(const PageToken& token);
// INVALID_ARGUMENT naming `field` for a token that is not one of ours or
// whose filters differ from `filters`.
absl::StatusOr<PageToken> DecodePageToken(absl::string_view field, absl::string_view token,
                                          absl::string_view filters);

// Paging of a listing the gateway holds whole, in an order that only grows
// at the end (so a position stays valid between pages). The token's page is
// the 1-based position of the next item.
//
// Reads `page_token` (empty: the first page) and `page_size` (0: all the
// rest; a non-zero page_size overrides the one in the token).
absl::StatusOr<PageToken> StartLocalPage(absl::string_view field, absl::string_view page_token,
                                         int64_t page_size, absl::string_view filters);

struct LocalPage {
  size_t begin = 0;  // the items [begin, end) make up the page
  size_t end = 0;
  std::string next_page_token;  // empty on the last page
};
LocalPage SliceLocalPage(const PageToken& start, size_t total);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_PAGE_TOKEN_H_
