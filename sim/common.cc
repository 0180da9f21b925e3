#include "sim/common.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tlsim {

const char* VersionName(ApiVersion version) {
  return version == ApiVersion::kV1_2 ? "v1.2" : "v1.3";
}

bool IsObjectId(absl::string_view id) {
  if (id.size() != 24) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::optional<absl::Time> ParseRfc3339(absl::string_view text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return t;
  if (absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &t, &err)) {
    return t;
  }
  return std::nullopt;
}

std::optional<std::string> HttpUrlHost(absl::string_view url) {
  std::string lower = absl::AsciiStrToLower(url);
  absl::string_view rest;
  if (absl::StartsWith(lower, "http://")) {
    rest = absl::string_view(url).substr(7);
  } else if (absl::StartsWith(lower, "https://")) {
    rest = absl::string_view(url).substr(8);
  } else {
    return std::nullopt;
  }
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  absl::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);  // IPv6 literal keeps its ':'.
  } else if (size_t colon = host.find(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host.empty()) return std::nullopt;
  for (char c : host) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return absl::AsciiStrToLower(host);
}

bool IsYouTubeHost(absl::string_view host) {
  return host == "youtube.com" || absl::EndsWith(host, ".youtube.com") || host == "youtu.be" ||
         host == "www.youtu.be";
}

std::string UrlLastPathSegment(absl::string_view url) {
  absl::string_view rest = url;
  if (size_t scheme = rest.find("://"); scheme != absl::string_view::npos) {
    rest = rest.substr(scheme + 3);
    size_t slash = rest.find('/');
    if (slash == absl::string_view::npos) return "";
    rest = rest.substr(slash);
  }
  rest = rest.substr(0, rest.find_first_of("?#"));
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  size_t last = rest.rfind('/');
  return std::string(last == absl::string_view::npos ? rest : rest.substr(last + 1));
}

std::optional<bool> ParseFormBool(absl::string_view text) {
  if (absl::EqualsIgnoreCase(text, "true")) return true;
  if (absl::EqualsIgnoreCase(text, "false")) return false;
  return std::nullopt;
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json ErrorBody(absl::string_view code, absl::string_view message) {
  return nlohmann::json{
      {"code", std::string(code)},
      {"message", std::string(message)},
      {"docs_url", absl::StrCat("https://docs.twelvelabs.io/api-reference/error-codes#", code)},
  };
}

}  // namespace tlsim
