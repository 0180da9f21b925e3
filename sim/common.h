// Small helpers shared by the simulator's model, REST layer and server:
// API versions, ids, RFC 3339 times, URL checks and error bodies. Nothing
// here does I/O or holds state.
#ifndef TL_GATEWAY_SIM_COMMON_H_
#define TL_GATEWAY_SIM_COMMON_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tlsim {

// An enum's wire names, both ways, from one table: no switch and loop to
// keep in step. The table's last entry is also the name of a value it
// does not list.
template <typename E>
struct EnumName {
  E value;
  const char* name;
};

template <typename E, size_t N>
const char* NameOf(const EnumName<E> (&table)[N], E value) {
  for (const EnumName<E>& e : table) {
    if (e.value == value) return e.name;
  }
  return table[N - 1].name;
}

template <typename E, size_t N>
std::optional<E> ValueOf(const EnumName<E> (&table)[N], absl::string_view name) {
  for (const EnumName<E>& e : table) {
    if (name == e.name) return e.value;
  }
  return std::nullopt;
}

enum class ApiVersion { kV1_2, kV1_3 };

// "v1.2" / "v1.3", as in the URL prefix and the X-Api-Version header.
const char* VersionName(ApiVersion version);

// True for an ObjectId-style id: exactly 24 lowercase hex characters.
bool IsObjectId(absl::string_view id);

// RFC 3339 in UTC with milliseconds and a `Z`, e.g. 2024-01-16T07:59:40.879Z.
std::string FormatRfc3339(absl::Time t);

// Accepts full RFC 3339 (any offset, optional fraction) or a bare date
// (YYYY-MM-DD, taken as midnight UTC).
std::optional<absl::Time> ParseRfc3339(absl::string_view text);

// Lower-cased host of an http(s) URL; nullopt if `url` is not http(s) or has
// no host.
std::optional<std::string> HttpUrlHost(absl::string_view url);

// youtube.com and its subdomains, youtu.be.
bool IsYouTubeHost(absl::string_view host);

// The URL's last non-empty path segment (query and fragment dropped), or ""
// when the path is empty.
std::string UrlLastPathSegment(absl::string_view url);

// Accepts "true"/"false" in any case, since Python clients send "True".
std::optional<bool> ParseFormBool(absl::string_view text);

// Serialises without throwing on invalid UTF-8 in user-supplied strings.
std::string DumpJson(const nlohmann::json& value);

// The error body every task/index/import endpoint uses:
// {"code","message","docs_url"}.
nlohmann::json ErrorBody(absl::string_view code, absl::string_view message);

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_COMMON_H_
