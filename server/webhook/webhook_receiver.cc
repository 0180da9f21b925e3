#include "server/webhook/webhook_receiver.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "wire/webhook_signature.h"

namespace tlgw {
namespace {

using nlohmann::json;

constexpr const char* kSignatureHeader = kWebhookSignatureHeader;

void WriteJson(HttpServerResponse* res, int status, const json& body) {
  res->status = status;
  res->content_type = "application/json";
  res->body = body.dump(-1, ' ', false, json::error_handler_t::replace);
}

void WriteError(HttpServerResponse* res, int status, const std::string& reason, const std::string& message) {
  WriteJson(res, status, json{{"error", reason}, {"message", message}});
}

int HttpStatusFor(WebhookRejection r) {
  switch (r) {
    case WebhookRejection::kBadSignature:
    case WebhookRejection::kStale:
      return 401;
    case WebhookRejection::kMissingSignature:
    case WebhookRejection::kMalformedSignature:
    case WebhookRejection::kMalformedBody:
      return 400;
  }
  return 400;
}

}  // namespace

class WebhookReceiver::Impl {
 public:
  Impl(WebhookReceiverOptions options, EventCallback on_event)
      : options_(std::move(options)),
        on_event_(std::move(on_event)),
        verifier_(options_.verifier) {}
  ~Impl() { Stop(); }  // the server thread uses the members below

  absl::Status Start();
  void Stop() {
    if (server_ != nullptr) server_->Stop();
  }
  int port() const { return server_ != nullptr ? server_->port() : -1; }
  void SetSecrets(std::vector<std::string> secrets) { verifier_.SetSecrets(std::move(secrets)); }
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_) {
    Stats s;
    {
      absl::MutexLock lock(&mu_);
      s = stats_;
    }
    if (server_ != nullptr) s.http = server_->stats();
    return s;
  }

 private:
  // Every request on every path, so answers (404/405) are ours, in JSON.
  void OnRequest(const HttpServerRequest& req, HttpServerResponse* res) ABSL_LOCKS_EXCLUDED(mu_);
  // The server's own refusals (413, 408, 431, 400...), in JSON too.
  void OnRefused(const HttpServerRequest& head, HttpServerResponse* res) ABSL_LOCKS_EXCLUDED(mu_);
  void CountRejected(const std::string& reason) ABSL_LOCKS_EXCLUDED(mu_);

  const WebhookReceiverOptions options_;
  const EventCallback on_event_;
  WebhookVerifier verifier_;
  std::unique_ptr<HttpServer> server_;  // set once by Start

  mutable absl::Mutex mu_;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

absl::Status WebhookReceiver::Impl::Start() {
  const WebhookReceiverOptions& o = options_;
  if (o.clock == nullptr) return absl::InvalidArgumentError("webhook receiver: no clock");
  if (o.path.empty() || o.path[0] != '/') {
    return absl::InvalidArgumentError("webhook path must start with '/'");
  }
  HttpServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.limits = o.limits;
  so.name = "webhook";
  auto server = HttpServer::Start(
      std::move(so), [this](const HttpServerRequest& req, HttpServerResponse* res) { OnRequest(req, res); },
      [this](const HttpServerRequest& head, HttpServerResponse* res) { OnRefused(head, res); });
  if (!server.ok()) {
    return absl::Status(server.status().code(),
                        absl::StrCat("cannot listen for webhooks on ", o.host, ":", o.port, ": ",
                                     server.status().message()));
  }
  server_ = *std::move(server);
  return absl::OkStatus();
}

void WebhookReceiver::Impl::CountRejected(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  ++stats_.rejected[reason];
}

void WebhookReceiver::Impl::OnRefused(const HttpServerRequest& head, HttpServerResponse* res) {
  std::string reason = "bad_request";
  switch (res->status) {
    case 413:
      reason = "too_large";
      // A delivery, like the other rejections; other paths are not.
      if (head.path == options_.path && head.method == "POST") CountRejected(reason);
      break;
    case 408: reason = "timeout"; break;
    case 431: reason = "head_too_large"; break;
    case 500: reason = "internal"; break;
  }
  std::string message = res->body;
  while (!message.empty() && message.back() == '\n') message.pop_back();
  WriteError(res, res->status, reason, message);
}

void WebhookReceiver::Impl::OnRequest(const HttpServerRequest& req, HttpServerResponse* res) {
  if (req.path != options_.path) {
    WriteError(res, 404, "not_found", "no such path; webhooks are POSTed to the configured path");
    return;
  }
  if (req.method != "POST") {
    res->headers.emplace_back("Allow", "POST");
    CountRejected("wrong_method");
    WriteError(res, 405, "wrong_method", "webhooks must be POSTed");
    return;
  }
  WebhookVerifier::Result result;
  if (req.HeaderCount(kSignatureHeader) > 1) {
    result.rejection = WebhookRejection::kMalformedSignature;
    result.message = "more than one TL-Signature header";
  } else {
    result = verifier_.Verify(req.Header(kSignatureHeader), req.body, options_.clock->Now());
  }
  if (result.rejection.has_value()) {
    const std::string reason = RejectionName(*result.rejection);
    CountRejected(reason);
    WriteError(res, HttpStatusFor(*result.rejection), reason, result.message);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    ++(result.duplicate ? stats_.duplicates : stats_.accepted);
  }
  WriteJson(res, 200, json{{"status", result.duplicate ? "duplicate" : "accepted"}});
  if (!result.duplicate && on_event_) on_event_(*result.event);
}

// ---- WebhookReceiver -----------------------------------------------------------

absl::StatusOr<std::unique_ptr<WebhookReceiver>> WebhookReceiver::Start(
    WebhookReceiverOptions options, EventCallback on_event) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(on_event));
  if (absl::Status s = impl->Start(); !s.ok()) {
    impl->Stop();
    return s;
  }
  return absl::WrapUnique(new WebhookReceiver(std::move(impl)));
}

WebhookReceiver::WebhookReceiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebhookReceiver::~WebhookReceiver() { Stop(); }

int WebhookReceiver::port() const { return impl_->port(); }

void WebhookReceiver::Stop() { impl_->Stop(); }

void WebhookReceiver::SetSecrets(std::vector<std::string> secrets) {
  impl_->SetSecrets(std::move(secrets));
}

WebhookReceiver::Stats WebhookReceiver::stats() const { return impl_->stats(); }

}  // namespace tlgw
