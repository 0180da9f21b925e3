#include "server/webhook/webhook_verifier.h"

#include <openssl/crypto.h>

#include <cstdint>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "wire/webhook_signature.h"

namespace tlgw {
namespace {

using nlohmann::json;

WebhookVerifier::Result Reject(WebhookRejection rejection, std::string message) {
  WebhookVerifier::Result r;
  r.rejection = rejection;
  r.message = std::move(message);
  return r;
}

// True if any candidate equals any expected value. Lengths are public
// (always 64), so a length mismatch may skip the compare; content is
// compared with CRYPTO_memcmp and every pair is tried, so the time taken
// says nothing about how much of a forged signature was right.
bool AnySignatureMatches(const std::vector<std::string>& expected,
                         const std::vector<absl::string_view>& candidates) {
  bool match = false;
  for (const std::string& e : expected) {
    for (absl::string_view c : candidates) {
      if (c.size() != e.size()) continue;
      match |= CRYPTO_memcmp(e.data(), c.data(), e.size()) == 0;
    }
  }
  return match;
}

// A non-empty string member of `object`, or nullptr.
const std::string* RequiredString(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return nullptr;
  const std::string* s = it->get_ptr<const std::string*>();
  return s->empty() ? nullptr : s;
}

// Only the fields the gateway uses; the rest of the body (models in v1.3,
// engines in v1.2, tags, ...) is accepted and ignored.
std::optional<WebhookEvent> ParseEvent(absl::string_view raw_body, std::string* error) {
  const json body = json::parse(raw_body.begin(), raw_body.end(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    *error = "the body is not a JSON object";
    return std::nullopt;
  }
  WebhookEvent event;
  const std::string* id = RequiredString(body, "id");
  const std::string* type = RequiredString(body, "type");
  auto data = body.find("data");
  const std::string* task_id =
      data != body.end() && data->is_object() ? RequiredString(*data, "id") : nullptr;
  if (id == nullptr || type == nullptr || task_id == nullptr) {
    *error = absl::StrCat("the body lacks a non-empty string ",
                          id == nullptr ? "id" : (type == nullptr ? "type" : "data.id"));
    return std::nullopt;
  }
  event.id = *id;
  event.type = *type;
  event.task_id = *task_id;
  if (auto status = data->find("status"); status != data->end() && status->is_string()) {
    event.status = status->get<std::string>();
  }
  if (auto metadata = data->find("metadata"); metadata != data->end() && metadata->is_object()) {
    auto duration = metadata->find("duration");
    if (duration != metadata->end() && duration->is_number()) {
      event.duration_seconds = duration->get<double>();
    }
  }
  if (auto created = body.find("created_at"); created != body.end() && created->is_string()) {
    absl::Time t;
    std::string unused;
    // RFC3339_full takes any offset and any number of fractional digits.
    if (absl::ParseTime(absl::RFC3339_full, created->get<std::string>(), &t, &unused)) {
      event.created_at = t;
    }
  }
  return event;
}

std::shared_ptr<const std::vector<std::string>> NonEmpty(std::vector<std::string> secrets) {
  auto out = std::make_shared<std::vector<std::string>>();
  for (std::string& s : secrets) {
    if (!s.empty()) out->push_back(std::move(s));
  }
  return out;
}

}  // namespace

const char* RejectionName(WebhookRejection r) {
  switch (r) {
    case WebhookRejection::kMissingSignature:
      return "missing_signature";
    case WebhookRejection::kMalformedSignature:
      return "malformed_signature";
    case WebhookRejection::kBadSignature:
      return "bad_signature";
    case WebhookRejection::kStale:
      return "stale";
    case WebhookRejection::kMalformedBody:
      return "malformed_body";
  }
  return "unknown";
}

WebhookVerifier::WebhookVerifier(WebhookVerifierOptions options)
    : tolerance_(options.tolerance),
      own_replay_set_(options.replay_capacity),
      replay_set_(options.replay_set != nullptr ? options.replay_set : &own_replay_set_),
      secrets_(NonEmpty(std::move(options.secrets))) {}

void WebhookVerifier::SetSecrets(std::vector<std::string> secrets) {
  auto next = NonEmpty(std::move(secrets));
  absl::MutexLock lock(&mu_);
  secrets_ = std::move(next);
}

std::shared_ptr<const WebhookVerifier::Secrets> WebhookVerifier::secrets() const {
  absl::MutexLock lock(&mu_);
  return secrets_;
}

WebhookVerifier::Result WebhookVerifier::Verify(absl::string_view signature_header,
                                                absl::string_view raw_body, absl::Time now) {
  if (absl::StripAsciiWhitespace(signature_header).empty()) {
    return Reject(WebhookRejection::kMissingSignature, "the TL-Signature header is missing");
  }
  std::string error;
  std::optional<WebhookSignatureFields> header =
      ParseWebhookSignatureHeader(signature_header, &error);
  if (!header.has_value()) {
    return Reject(WebhookRejection::kMalformedSignature, std::move(error));
  }

  // The signature is checked before the timestamp. `t` is only meaningful
  // once authenticated (it is part of the signed payload), and this way a
  // "stale" rejection always means a genuine delivery that arrived late or
  // was replayed (clock skew worth alerting on) while forgeries all count
  // as bad_signature whatever t they carry. One HMAC over at most
  // max_body_bytes is cheap, so checking t first would save little.
  const std::string payload = WebhookSignedPayload(header->t, raw_body);
  std::shared_ptr<const Secrets> secrets = this->secrets();
  std::vector<std::string> expected;
  expected.reserve(secrets->size());
  for (const std::string& secret : *secrets) {
    expected.push_back(HmacSha256Hex(secret, payload));
  }
  if (!AnySignatureMatches(expected, header->v1)) {
    return Reject(WebhookRejection::kBadSignature,
                  "no TL-Signature v1 matches a configured webhook secret");
  }

  const absl::Duration skew = absl::AbsDuration(now - absl::FromUnixSeconds(header->t));
  if (skew >= tolerance_) {
    return Reject(WebhookRejection::kStale,
                  absl::StrCat("the TL-Signature timestamp is ", absl::ToInt64Seconds(skew),
                               " s from the receiver's clock; the tolerance is ",
                               absl::ToInt64Seconds(tolerance_), " s"));
  }

  std::optional<WebhookEvent> event = ParseEvent(raw_body, &error);
  if (!event.has_value()) {
    return Reject(WebhookRejection::kMalformedBody, std::move(error));
  }

  Result result;
  // Checked and recorded in one step by the set, so two concurrent
  // deliveries of one event (to this replica or, with a shared set, to
  // any) yield one accept and one duplicate.
  result.duplicate = !replay_set_->Remember(event->id);
  if (result.duplicate) result.message = "the event was already received";
  result.event = std::move(event);
  return result;
}

}  // namespace tlgw
