#include "server/upstream/http.h"

namespace tlgw {

std::optional<std::string> HttpResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

bool NotSent(const absl::Status& status) {
  return status.GetPayload(kNotSentPayload).has_value();
}

}  // namespace tlgw
