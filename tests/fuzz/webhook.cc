// Fuzzes webhook deliveries: the TL-Signature header parser
// (wire/webhook_signature.h) and WebhookVerifier::Verify
// (server/webhook/webhook_verifier.h), which parses the body.
//
// Input: the TL-Signature value up to the first '\n', then the body.
//
// Asserts (abort() on failure):
// - a parsed header has exactly what the contract says: t >= 0 and
//   1..kMaxWebhookSignatures v1 values, each a view inside the header
//   without surrounding spaces; a failure always says why;
// - Verify with the fuzzed header returns an event or a rejection, never
//   both; a rejection has a message that names neither the secret nor the
//   expected signature; an accepted event has a non-empty id, type and
//   task id; the same delivery again is a duplicate;
// - the same body signed properly (WebhookSignatureHeader) parses back to
//   its t and signature, and Verify accepts it or rejects only the body
//   (malformed_body), never the signature or the time.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/webhook/webhook_verifier.h"
#include "wire/webhook_signature.h"

namespace {

constexpr char kSecret[] = "whsec_fuzz_secret";
constexpr int64_t kNow = 1700000000;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "webhook invariant failed: %s\n", what.c_str());
  std::abort();
}

bool Inside(absl::string_view part, absl::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void CheckResult(const tlgw::WebhookVerifier::Result& r, absl::string_view expected_hex) {
  if (r.event.has_value() == r.rejection.has_value()) Fail("exactly one of event and rejection");
  if (r.rejection.has_value()) {
    if (r.message.empty()) Fail("a rejection without a message");
    if (absl::StrContains(r.message, kSecret)) Fail("a message names the secret");
    if (!expected_hex.empty() && absl::StrContains(r.message, expected_hex)) {
      Fail("a message names the expected signature");
    }
    return;
  }
  if (r.event->id.empty() || r.event->type.empty() || r.event->task_id.empty()) {
    Fail("an accepted event lacks id, type or task id");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const absl::string_view header = input.substr(0, nl);
  const absl::string_view body = nl == absl::string_view::npos ? absl::string_view() : input.substr(nl + 1);

  // The header parser on its own.
  std::string error;
  auto fields = tlgw::ParseWebhookSignatureHeader(header, &error);
  int64_t t = kNow;
  if (fields.has_value()) {
    if (fields->t < 0) Fail("negative t");
    if (fields->v1.empty() || fields->v1.size() > tlgw::kMaxWebhookSignatures) Fail("v1 count");
    for (absl::string_view v : fields->v1) {
      if (!Inside(v, header)) Fail("a v1 view outside the header");
      if (!v.empty() && (absl::ascii_isspace(static_cast<unsigned char>(v.front())) ||
                         absl::ascii_isspace(static_cast<unsigned char>(v.back())))) {
        Fail("a v1 value keeps surrounding spaces");
      }
    }
    t = fields->t;
  } else if (error.empty()) {
    Fail("a refused header without a reason");
  }

  // Verify with the fuzzed header, at the header's own time (so a correct
  // signature would not be stale).
  const std::string expected = tlgw::WebhookSignatureHex(kSecret, t, body);
  {
    tlgw::WebhookVerifier verifier({{kSecret, "", "whsec_other"}, absl::Seconds(300), 4});
    const absl::Time now = t < (int64_t{1} << 40) ? absl::FromUnixSeconds(t) : absl::FromUnixSeconds(kNow);
    auto r = verifier.Verify(header, body, now);
    CheckResult(r, expected);
    if (r.event.has_value()) {
      auto again = verifier.Verify(header, body, now);
      CheckResult(again, expected);
      if (!again.event.has_value() || !again.duplicate) Fail("the same delivery again is not a duplicate");
    }
  }

  // The body signed properly, at a time derived from the input.
  const int64_t t_signed = kNow + static_cast<int64_t>(size % 1000);
  const std::string signed_header = tlgw::WebhookSignatureHeader(kSecret, t_signed, body);
  auto parsed = tlgw::ParseWebhookSignatureHeader(signed_header, &error);
  if (!parsed.has_value() || parsed->t != t_signed || parsed->v1.size() != 1 ||
      parsed->v1[0] != tlgw::WebhookSignatureHex(kSecret, t_signed, body)) {
    Fail("a signed header does not parse back: " + signed_header);
  }
  tlgw::WebhookVerifier verifier({{kSecret}, absl::Seconds(300), 4});
  auto r = verifier.Verify(signed_header, body, absl::FromUnixSeconds(t_signed) + absl::Seconds(299));
  CheckResult(r, "");
  if (r.rejection.has_value() && *r.rejection != tlgw::WebhookRejection::kMalformedBody) {
    Fail(std::string("a properly signed delivery rejected as ") + tlgw::RejectionName(*r.rejection));
  }
  if (r.event.has_value()) {
    if (r.duplicate) Fail("a first delivery reported as a duplicate");
    auto again = verifier.Verify(signed_header, body, absl::FromUnixSeconds(t_signed));
    CheckResult(again, "");
    if (!again.event.has_value() || !again.duplicate) Fail("the same delivery again is not a duplicate");
  }
  return 0;
}
