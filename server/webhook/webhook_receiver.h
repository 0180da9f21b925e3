// The gateway's webhook endpoint: an HTTP server (//server/http, whose
// limits bound what an unauthenticated sender can hold) on its own port that accepts Twelve Labs event deliveries on POST `path`, verifies
// them with WebhookVerifier and hands each new event to a callback.
//
// It answers from what it already has: it never calls upstream (or anything
// slow) from a request, so Twelve Labs gets its 2xx quickly. It never logs
// or answers with a secret or an expected signature.
//
// Answers (JSON; errors are {"error": "<reason>", "message": "..."}):
//   200 {"status":"accepted"}   new, authentic event (on_event runs)
//   200 {"status":"duplicate"}  event id accepted before; nothing changes
//   400 missing_signature / malformed_signature / malformed_body
//   401 bad_signature / stale
//   413 too_large    404 not_found (other paths)    405 wrong_method
//   408 timeout, 431 head_too_large, 400/501/505 bad_request (the server's
//   own refusals, see //server/http)
#ifndef TL_GATEWAY_SERVER_WEBHOOK_WEBHOOK_RECEIVER_H_
#define TL_GATEWAY_SERVER_WEBHOOK_WEBHOOK_RECEIVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/common/clock.h"
#include "server/http/http_server.h"
#include "server/webhook/webhook_verifier.h"

namespace tlgw {

struct WebhookReceiverOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port; see WebhookReceiver::port()
  std::string path = "/webhooks/twelvelabs";
  WebhookVerifierOptions verifier;
  // Judges signature timestamps; not owned, must outlive the receiver.
  Clock* clock = nullptr;
  // Connections, head and body sizes (larger bodies get 413) and deadlines.
  HttpLimits limits;
};

// Thread-safe.
class WebhookReceiver {
 public:
  // Runs on the receiver thread once for each accepted, non-duplicate event,
  // after the 200 is decided and before it is sent; it must not block (hand
  // the event to a queue). Never runs for rejected or duplicate deliveries.
  using EventCallback = std::function<void(const WebhookEvent&)>;

  // Binds before returning (so port() is valid) and serves on its own
  // thread. Fails if the address cannot be bound (a busy port fails: the
  // socket uses SO_REUSEADDR, never SO_REUSEPORT).
  static absl::StatusOr<std::unique_ptr<WebhookReceiver>> Start(WebhookReceiverOptions options,
                                                                EventCallback on_event);

  ~WebhookReceiver();  // Stops.
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  int port() const;

  // Closes the listener and every open connection at once. Idempotent.
  void Stop();

  // Rotation: deliveries verified after this use `secrets`.
  void SetSecrets(std::vector<std::string> secrets);

  struct Stats {
    int64_t accepted = 0;
    int64_t duplicates = 0;
    // By RejectionName(), plus "too_large" and "wrong_method" (404s for
    // other paths are not counted: they are not deliveries).
    std::map<std::string, int64_t> rejected;
    HttpServer::Stats http;  // connections of the webhook port
  };
  Stats stats() const;

  class Impl;

 private:
  explicit WebhookReceiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WEBHOOK_WEBHOOK_RECEIVER_H_
