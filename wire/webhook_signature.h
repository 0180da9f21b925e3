// The TL-Signature scheme of Twelve Labs webhooks (docs/upstream-api.md §4), the
// one definition both ends of the wire share: the simulator signs with it,
// the gateway's verifier checks with it. Pure functions, no I/O, no policy
// (which secrets, what clock tolerance and replay rules belong to the
// verifier).
#ifndef TL_GATEWAY_WIRE_WEBHOOK_SIGNATURE_H_
#define TL_GATEWAY_WIRE_WEBHOOK_SIGNATURE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tlgw {

// The HTTP header a delivery's signature travels in.
inline constexpr char kWebhookSignatureHeader[] = "TL-Signature";

// What is signed: `t + "." + body`.
std::string WebhookSignedPayload(int64_t t, absl::string_view body);

// Lowercase hex HMAC-SHA256 of `payload` keyed with the secret's bytes
// (64 characters).
std::string HmacSha256Hex(absl::string_view secret, absl::string_view payload);

// The v1 signature of a delivery: HmacSha256Hex(secret, WebhookSignedPayload(t, body)).
std::string WebhookSignatureHex(absl::string_view secret, int64_t t, absl::string_view body);

// The TL-Signature value a sender puts on a delivery: "t=<t>,v1=<hex>".
std::string WebhookSignatureHeader(absl::string_view secret, int64_t t, absl::string_view body);

// A parsed TL-Signature value. The v1 views point into the parsed string.
struct WebhookSignatureFields {
  int64_t t = 0;
  std::vector<absl::string_view> v1;
};

// At most this many v1 values are accepted; bounds the HMAC work one
// request can cause (real headers carry one).
inline constexpr size_t kMaxWebhookSignatures = 8;

// Parses "t=<unix seconds>,v1=<hex>[,v1=<hex>...]": split on ',', each
// element on its first '='; spaces around either are tolerated. Unknown
// keys (a future "v2") are ignored so a new scheme does not break a
// receiver. Exactly one t and 1..kMaxWebhookSignatures v1 are required.
// On failure returns nullopt and the reason in `*error` (never a secret
// or a signature, so it is safe to send back).
std::optional<WebhookSignatureFields> ParseWebhookSignatureHeader(absl::string_view header,
                                                                  std::string* error);

}  // namespace tlgw

#endif  // TL_GATEWAY_WIRE_WEBHOOK_SIGNATURE_H_
