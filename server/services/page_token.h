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

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_PAGE_TOKEN_H_
