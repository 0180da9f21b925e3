#include "server/common/ids.h"

#include "absl/strings/ascii.h"

namespace tlgw {

bool IsResourceId(absl::string_view value) {
  if (value.size() != kResourceIdLength) return false;
  for (char c : value) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

}  // namespace tlgw
