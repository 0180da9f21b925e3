#include "server/services/page_token.h"

#include <algorithm>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/common/status_details.h"

namespace tlgw {

std::string EncodePageToken(const PageToken& token) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("p1:", token.page, ":", token.page_size, ":", token.filters));
}

absl::StatusOr<PageToken> DecodePageToken(absl::string_view field, absl::string_view token,
                                          absl::string_view filters) {
  std::string raw;
  PageToken out;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, absl::MaxSplits(':', 3));
  if (parts.size() != 4 || parts[0] != "p1" || !absl::SimpleAtoi(parts[1], &out.page) ||
      !absl::SimpleAtoi(parts[2], &out.page_size) || out.page < 1 || out.page_size < 0) {
    return FieldError(field, "is not a token this gateway issued; pass next_page_token unchanged");
  }
  out.filters = parts[3];
  if (out.filters != filters) {
    return FieldError(field, "was issued for a request with other filters; send the same filters "
                             "as the request that returned it, or start again without a token");
  }
  return out;
}

absl::StatusOr<PageToken> StartLocalPage(absl::string_view field, absl::string_view page_token,
                                         int64_t page_size, absl::string_view filters) {
  PageToken start{1, page_size, std::string(filters)};
  if (!page_token.empty()) {
    auto decoded = DecodePageToken(field, page_token, filters);
    if (!decoded.ok()) return decoded.status();
    start = *decoded;
    if (page_size > 0) start.page_size = page_size;
  }
  return start;
}

LocalPage SliceLocalPage(const PageToken& start, size_t total) {
  LocalPage page;
  page.begin = std::min<size_t>(static_cast<size_t>(start.page - 1), total);
  page.end = start.page_size <= 0 ? total
                                  : std::min<size_t>(page.begin + static_cast<size_t>(start.page_size), total);
  if (page.end < total) {
    PageToken next = start;
    next.page = static_cast<int64_t>(page.end) + 1;
    page.next_page_token = EncodePageToken(next);
  }
  return page;
}

}  // namespace tlgw
