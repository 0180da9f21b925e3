// Verifies Twelve Labs webhook deliveries: the TL-Signature header
// (the scheme in wire/webhook_signature.h), the timestamp tolerance,
// the body's required fields, and replays of an event id already accepted.
// Pure logic: no I/O, time is passed in, so tests need no clock.
//
// Never logs, and never puts in a message, a secret or an expected
// signature: a message goes back to whoever sent the request.
#ifndef TL_GATEWAY_SERVER_WEBHOOK_WEBHOOK_VERIFIER_H_
#define TL_GATEWAY_SERVER_WEBHOOK_WEBHOOK_VERIFIER_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/webhook/replay_set.h"

namespace tlgw {

// The fields of an event the gateway acts on. Other body fields (models,
// engines, tags, ...) differ between API versions and are not kept.
struct WebhookEvent {
  std::string id;       // "whe_..."
  std::string type;     // "index.task.ready", "index.task.failed", or others (kept as-is)
  std::string task_id;  // data.id
  std::string status;   // data.status ("ready", "failed", ...); "" when absent
  std::optional<double> duration_seconds;        // data.metadata.duration when present
  absl::Time created_at = absl::InfinitePast();  // when parseable (RFC 3339, any offset)
};

struct WebhookVerifierOptions {
  // Any may match, so a new secret can be added before the old one is
  // removed. Empty strings are ignored: an empty HMAC key is public.
  std::vector<std::string> secrets;
  // Reject when |now - t| >= tolerance (the docs suggest five minutes).
  absl::Duration tolerance = absl::Seconds(300);
  // Event ids remembered for replay detection; the oldest is forgotten
  // first. 0 remembers none. Used when `replay_set` is unset.
  size_t replay_capacity = 100000;
  // Where accepted ids are remembered instead (a cluster's shared set);
  // not owned, must outlive the verifier.
  WebhookReplaySet* replay_set = nullptr;
};

enum class WebhookRejection {
  kMissingSignature,
  kMalformedSignature,
  kBadSignature,
  kStale,
  kMalformedBody,
};

// "missing_signature", "malformed_signature", "bad_signature", "stale",
// "malformed_body": stable names for metrics and error bodies.
const char* RejectionName(WebhookRejection r);

// Thread-safe.
class WebhookVerifier {
 public:
  explicit WebhookVerifier(WebhookVerifierOptions options);

  WebhookVerifier(const WebhookVerifier&) = delete;
  WebhookVerifier& operator=(const WebhookVerifier&) = delete;

  struct Result {
    // Set when the delivery is authentic and well-formed (also for a
    // duplicate), unset when rejected.
    std::optional<WebhookEvent> event;
    // The event id was accepted before: answer 2xx and change nothing.
    bool duplicate = false;
    std::optional<WebhookRejection> rejection;
    std::string message;  // why it was rejected; safe to send back
  };

  // `signature_header` is the TL-Signature value ("" when absent);
  // `raw_body` the exact request bytes. An accepted, non-duplicate event's
  // id is remembered, so the same call again reports a duplicate.
  Result Verify(absl::string_view signature_header, absl::string_view raw_body, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Replaces the secrets; deliveries verified after this use the new set.
  void SetSecrets(std::vector<std::string> secrets) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Secrets = std::vector<std::string>;

  std::shared_ptr<const Secrets> secrets() const ABSL_LOCKS_EXCLUDED(mu_);

  const absl::Duration tolerance_;
  MemoryReplaySet own_replay_set_;
  WebhookReplaySet* const replay_set_;  // own_replay_set_ or the options'

  mutable absl::Mutex mu_;
  // Swapped whole, so Verify computes HMACs without holding the lock.
  std::shared_ptr<const Secrets> secrets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WEBHOOK_WEBHOOK_VERIFIER_H_
