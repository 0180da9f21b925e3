#include "server/services/page_token.h"

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

}  // namespace tlgw
