// The form of Twelve Labs resource ids, shared by the configuration loader
// (ids in the config file) and the services (ids in requests). No
// dependencies beyond Abseil, so the lowest layers can use it.
#ifndef TL_GATEWAY_SERVER_COMMON_IDS_H_
#define TL_GATEWAY_SERVER_COMMON_IDS_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace tlgw {

// Task, index, video and integration ids are this many lowercase hex
// characters, like 6298d673f1090f1100476d4c.
inline constexpr size_t kResourceIdLength = 24;

// True if `value` is a resource id: kResourceIdLength characters of
// [0-9a-f].
bool IsResourceId(absl::string_view value);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_IDS_H_
