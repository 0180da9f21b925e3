// The simulator's webhooks, as docs/upstream-api.md §4 describes them: event
// bodies per API version, the TL-Signature header, and a sender that POSTs
// events to the configured URL from its own threads, retries, and keeps a
// log for the control API.
//
// Never logs a webhook secret or puts one in a log entry or a response.
#ifndef TL_GATEWAY_SIM_WEBHOOKS_H_
#define TL_GATEWAY_SIM_WEBHOOKS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sim/model.h"
#include "wire/webhook_signature.h"

namespace tlsim {

// How a delivery is signed. kBad (a wrong secret) and kStale (t an hour in
// the past) exist so tests can check that a receiver refuses them.
enum class WebhookSigning { kGood, kBad, kStale };

// "good", "bad", "stale".
const char* WebhookSigningName(WebhookSigning signing);
std::optional<WebhookSigning> ParseWebhookSigning(absl::string_view name);

// "index.task.ready" or "index.task.failed".
const char* WebhookEventType(TaskStatus terminal_status);

// "whe_" + 32 random lowercase hex characters.
std::string NewWebhookEventId(absl::BitGen& rng);

// The TL-Signature scheme (wire/webhook_signature.h), shared with the
// gateway's verifier so both sides sign the same way:
// WebhookSignatureHex is the lowercase hex HMAC-SHA256 of `t + "." + body`
// keyed with the secret's bytes; WebhookSignatureHeader the header value
// "t=<t>,v1=<hex>".
using ::tlgw::WebhookSignatureHeader;
using ::tlgw::WebhookSignatureHex;

// An event body as Twelve Labs sends it for a task created through
// `task.version`: v1.3 lists data.models, v1.2 data.engines. `created_at`
// is written in RFC 3339 with microseconds and a numeric offset, as in the
// docs' example.
nlohmann::json WebhookEventBody(const std::string& event_id, const std::string& type,
                                const Task& task, TaskStatus status, absl::Time created_at);

// Splits an absolute http(s) URL into what httplib's client takes:
// "scheme://host[:port]" and the path with its query ("/" when empty).
absl::StatusOr<std::pair<std::string, std::string>> SplitWebhookUrl(absl::string_view url);

struct WebhookSenderOptions {
  int num_workers = 2;
  // Pause before each retry; attempts = backoff.size() + 1.
  std::vector<absl::Duration> backoff = {absl::Milliseconds(200), absl::Seconds(1)};
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration io_timeout = absl::Seconds(3);  // read and write, per attempt
  size_t max_log_entries = 10000;
};

// Thread-safe. Deliveries run on its own worker threads, never on the
// caller's, so callers may hold their own locks while calling Send.
class WebhookSender {
 public:
  explicit WebhookSender(WebhookSenderOptions options);  // starts the workers
  ~WebhookSender();                                      // Stop()s
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Sets whichever is given; an empty URL turns sending off. Fails (and
  // changes nothing) on a URL that is not absolute http(s).
  absl::Status Configure(std::optional<std::string> url, std::optional<std::string> secret)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::string url() const ABSL_LOCKS_EXCLUDED(mu_);
  bool has_secret() const ABSL_LOCKS_EXCLUDED(mu_);
  bool enabled() const ABSL_LOCKS_EXCLUDED(mu_);  // a URL is configured

  // Queues one delivery of `body` to the URL configured now, signed with
  // the secret configured now (the signature's t is taken at each
  // attempt). Non-2xx answers and failed connections are retried. Returns
  // false, queuing nothing, when no URL is configured.
  bool Send(const std::string& event_id, const std::string& type, const std::string& task_id,
            std::string body, WebhookSigning signing) ABSL_LOCKS_EXCLUDED(mu_);

  // {"deliveries": [{"event_id", "type", "task_id", "status_code" (of the
  // last attempt; 0 = no HTTP answer), "attempts", "done", "signing",
  // "body" (the exact bytes sent)}]}, oldest first.
  nlohmann::json DeliveriesJson() const ABSL_LOCKS_EXCLUDED(mu_);
  void ClearDeliveries() ABSL_LOCKS_EXCLUDED(mu_);

  // Ends the workers (an attempt in flight finishes or times out first);
  // queued deliveries are dropped. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Delivery {
    int64_t seq;
    std::string base;  // scheme://host:port
    std::string path;
    std::string secret;
    std::string body;
    WebhookSigning signing;
  };

  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void Deliver(const Delivery& d) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the HTTP status, or 0 when there was no answer.
  int Attempt(const Delivery& d) const;
  void RecordAttempt(int64_t seq, int status, bool done) ABSL_LOCKS_EXCLUDED(mu_);

  const WebhookSenderOptions options_;
  absl::Notification stopping_;  // wakes backoff sleeps
  std::vector<std::thread> workers_;

  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::string url_ ABSL_GUARDED_BY(mu_);
  std::string base_ ABSL_GUARDED_BY(mu_);
  std::string path_ ABSL_GUARDED_BY(mu_);
  std::string secret_ ABSL_GUARDED_BY(mu_);
  std::deque<Delivery> queue_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, nlohmann::json> log_ ABSL_GUARDED_BY(mu_);  // by seq
};

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_WEBHOOKS_H_
