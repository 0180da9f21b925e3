#include "wire/webhook_signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tlgw {
namespace {

// 18 digits fit in int64 and cover any plausible unix time.
constexpr size_t kMaxTimestampDigits = 18;

bool AllDigits(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::string WebhookSignedPayload(int64_t t, absl::string_view body) {
  return absl::StrCat(t, ".", body);
}

std::string HmacSha256Hex(absl::string_view secret, absl::string_view payload) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &mac_len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * mac_len);
  for (unsigned int i = 0; i < mac_len; ++i) {
    hex.push_back(kHex[mac[i] >> 4]);
    hex.push_back(kHex[mac[i] & 0xf]);
  }
  return hex;
}

std::string WebhookSignatureHex(absl::string_view secret, int64_t t, absl::string_view body) {
  return HmacSha256Hex(secret, WebhookSignedPayload(t, body));
}

std::string WebhookSignatureHeader(absl::string_view secret, int64_t t, absl::string_view body) {
  return absl::StrCat("t=", t, ",v1=", WebhookSignatureHex(secret, t, body));
}

std::optional<WebhookSignatureFields> ParseWebhookSignatureHeader(absl::string_view header,
                                                                  std::string* error) {
  WebhookSignatureFields parsed;
  bool have_t = false;
  for (absl::string_view element : absl::StrSplit(header, ',')) {
    element = absl::StripAsciiWhitespace(element);
    if (element.empty()) continue;
    const size_t eq = element.find('=');
    if (eq == absl::string_view::npos) {
      *error = "TL-Signature elements must be key=value";
      return std::nullopt;
    }
    const absl::string_view key = absl::StripAsciiWhitespace(element.substr(0, eq));
    const absl::string_view value = absl::StripAsciiWhitespace(element.substr(eq + 1));
    if (key == "t") {
      if (have_t) {
        *error = "TL-Signature has more than one t";
        return std::nullopt;
      }
      if (value.empty() || value.size() > kMaxTimestampDigits || !AllDigits(value) ||
          !absl::SimpleAtoi(value, &parsed.t)) {
        *error = "TL-Signature t must be unix seconds";
        return std::nullopt;
      }
      have_t = true;
    } else if (key == "v1") {
      if (parsed.v1.size() == kMaxWebhookSignatures) {
        *error = absl::StrCat("TL-Signature has more than ", kMaxWebhookSignatures, " v1 values");
        return std::nullopt;
      }
      parsed.v1.push_back(value);
    }
  }
  if (!have_t) {
    *error = "TL-Signature has no t";
    return std::nullopt;
  }
  if (parsed.v1.empty()) {
    *error = "TL-Signature has no v1";
    return std::nullopt;
  }
  return parsed;
}

}  // namespace tlgw
