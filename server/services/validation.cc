#include "server/services/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/common/ids.h"
#include "server/common/status_details.h"

namespace tlgw {
namespace {

// Splits "scheme://host[:port]/rest" and returns the lower-cased host, or ""
// when the URL is not of that form.
std::string HostOf(absl::string_view url, absl::string_view* scheme) {
  size_t sep = url.find("://");
  if (sep == absl::string_view::npos) return "";
  *scheme = url.substr(0, sep);
  absl::string_view rest = url.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, end);
  if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    return close == absl::string_view::npos ? "" : std::string(authority.substr(0, close + 1));
  }
  return absl::AsciiStrToLower(authority.substr(0, authority.find(':')));
}

}  // namespace

absl::Status ValidateId(absl::string_view field, absl::string_view value) {
  if (value.empty()) return FieldError(field, "is required (a 24-character hex id)");
  if (!IsResourceId(value)) {
    return FieldError(field, absl::StrCat("must be a 24-character lowercase hex id, like "
                                          "6298d673f1090f1100476d4c; got ",
                                          value.size() > 64 ? "a longer value" :
                                          absl::StrCat("'", value, "'")));
  }
  return absl::OkStatus();
}

absl::Status ValidateHttpUrl(absl::string_view field, absl::string_view value) {
  if (value.empty()) return FieldError(field, "is required (an http or https URL)");
  if (value.size() > 4096) return FieldError(field, "is longer than 4096 characters");
  for (char c : value) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return FieldError(field, "must not contain spaces or control characters (percent-encode them)");
    }
  }
  absl::string_view scheme;
  std::string host = HostOf(value, &scheme);
  std::string lower_scheme = absl::AsciiStrToLower(scheme);
  if (lower_scheme != "http" && lower_scheme != "https") {
    return FieldError(field, "must be an absolute http:// or https:// URL");
  }
  if (host.empty()) return FieldError(field, "has no host name");
  return absl::OkStatus();
}

bool IsYouTubeUrl(absl::string_view url) {
  absl::string_view scheme;
  std::string host = HostOf(url, &scheme);
  return host == "youtube.com" || host == "www.youtube.com" || host == "m.youtube.com" ||
         host == "music.youtube.com" || host == "youtu.be" || host == "www.youtu.be" ||
         host == "youtube-nocookie.com" || host == "www.youtube-nocookie.com";
}

absl::Status ValidateRequestId(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  bool ok = value.size() <= 128;
  for (char c : value) ok = ok && (absl::ascii_isalnum(c) || c == '-' || c == '_');
  if (!ok) return FieldError(field, "must be 1 to 128 of A-Z, a-z, 0-9, '-' and '_' (a UUID is ideal)");
  return absl::OkStatus();
}

namespace {

// Decodes the UTF-8 sequence at `s[*i]` and advances `*i`; -1 when it is
// not valid UTF-8 (overlong forms, surrogates and values past U+10FFFF
// included).
int32_t NextCodePoint(absl::string_view s, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(*i);
  int len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || *i + len > s.size()) return -1;
  int32_t cp = len == 1 ? b0 : b0 & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    if ((byte(*i + k) & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (byte(*i + k) & 0x3F);
  }
  static constexpr int32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  *i += len;
  return cp;
}

}  // namespace

absl::Status ValidateFileName(absl::string_view field, absl::string_view value) {
  if (value.empty()) return FieldError(field, "is required (the video's file name)");
  if (value.size() > 255) return FieldError(field, "is longer than 255 bytes; shorten the file name");
  for (size_t i = 0; i < value.size();) {
    const size_t at = i;
    int32_t cp = NextCodePoint(value, &i);
    auto where = [at] { return absl::StrCat(" at byte ", at); };
    if (cp < 0) {
      return FieldError(field, absl::StrCat("is not valid UTF-8", where(), "; send the name encoded as UTF-8"));
    }
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
      return FieldError(field, absl::StrCat("must not contain control characters (",
                                            absl::StrFormat("U+%04X", cp), where(),
                                            "); remove them from the file name"));
    }
    if (cp == '/' || cp == '\\') {
      return FieldError(field, absl::StrCat("must be a plain file name without '/' or '\\' (found one", where(), ")",
                                            "; send only the last part of the path"));
    }
    if (cp == '"') {
      return FieldError(field, absl::StrCat("must not contain '\"' (found one", where(), "); remove the quotes"));
    }
    if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
      return FieldError(field, absl::StrCat("must not contain bidirectional override or isolate characters (",
                                            absl::StrFormat("U+%04X", cp), where(),
                                            "), which make a name display as something else; remove them"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePageSize(absl::string_view field, int value, int max) {
  if (value < 0 || value > max) {
    return FieldError(field, absl::StrCat("must be between 1 and ", max,
                                          " (or 0 for the default); got ", value));
  }
  return absl::OkStatus();
}

}  // namespace tlgw
