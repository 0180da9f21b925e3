#include "server/webhook/webhook_receiver.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "httplib.h"
#include "common/connections.h"
#include "nlohmann/json.hpp"
#include "wire/webhook_signature.h"

namespace tlgw {
namespace {

using nlohmann::json;

constexpr const char* kSignatureHeader = kWebhookSignatureHeader;
// Paths can carry a decoded newline; "." would not match it.
constexpr char kAnyPath[] = "[\\s\\S]*";
// A too-large chunked body is still read (and dropped) up to this much, so
// the sender sees the 413 rather than a reset; past it the connection is
// dropped instead.
constexpr size_t kMaxDrainBytes = 8 << 20;

void WriteJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void WriteError(httplib::Response& res, int status, const std::string& reason,
                const std::string& message) {
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

  absl::Status Start();
  void Stop();
  int port() const { return port_; }
  void SetSecrets(std::vector<std::string> secrets) { verifier_.SetSecrets(std::move(secrets)); }
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

 private:
  // Every method on every path lands here, so answers (404/405/413) are
  // ours, in JSON, rather than httplib's defaults.
  void OnRequest(const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader* reader) ABSL_LOCKS_EXCLUDED(mu_);
  void CountRejected(const std::string& reason) ABSL_LOCKS_EXCLUDED(mu_);

  const WebhookReceiverOptions options_;
  const EventCallback on_event_;
  WebhookVerifier verifier_;
  httplib::Server server_;
  std::thread listener_;
  int port_ = -1;
  std::once_flag stop_once_;

  mutable absl::Mutex mu_;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

absl::Status WebhookReceiver::Impl::Start() {
  const WebhookReceiverOptions& o = options_;
  if (o.clock == nullptr) return absl::InvalidArgumentError("webhook receiver: no clock");
  if (o.path.empty() || o.path[0] != '/') {
    return absl::InvalidArgumentError("webhook path must start with '/'");
  }
  if (o.port < 0 || o.port > 65535 || o.num_threads < 1 || o.keep_alive_timeout_seconds < 0 ||
      o.max_body_bytes == 0) {
    return absl::InvalidArgumentError(
        "webhook port must be 0-65535, num_threads >= 1, keep_alive_timeout_seconds >= 0 and "
        "max_body_bytes > 0");
  }
  // The httplib code is in the prebuilt libcpp-httplib.so, where the
  // CPPHTTPLIB_* macros are already fixed; only runtime setters count.
  const size_t threads = static_cast<size_t>(o.num_threads);
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.set_keep_alive_max_count(1000000);  // httplib's default is 5
  server_.set_keep_alive_timeout(o.keep_alive_timeout_seconds);
  server_.set_read_timeout(10, 0);
  server_.set_write_timeout(10, 0);
  // A body whose Content-Length exceeds this is skipped (read and dropped)
  // by httplib, never buffered; chunked bodies are counted in OnRequest.
  server_.set_payload_max_length(o.max_body_bytes);
  // httplib's default sets SO_REUSEPORT, which lets a second server bind a
  // busy port and silently share its traffic; a busy port must fail.
  server_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    // Accepted sockets inherit it: without it a response written as
    // headers then body waits ~40 ms for the client's delayed ACK.
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  });

  auto plain = [this](const httplib::Request& req, httplib::Response& res) {
    OnRequest(req, res, nullptr);
  };
  auto with_reader = [this](const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader& reader) { OnRequest(req, res, &reader); };
  server_.Get(kAnyPath, plain);  // also HEAD
  server_.Options(kAnyPath, plain);
  server_.Post(kAnyPath, with_reader);
  server_.Put(kAnyPath, with_reader);
  server_.Patch(kAnyPath, with_reader);
  server_.Delete(kAnyPath, with_reader);
  // What httplib answers on its own (unknown methods, bad request lines,
  // 413 on other methods, ...) still gets a JSON error body.
  server_.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const bool too_large = res.status == 413;
        WriteError(res, res.status, too_large ? "too_large" : "bad_request",
                   too_large ? "the body is too large" : "the request could not be served");
        return httplib::Server::HandlerResponse::Handled;
      }));
  server_.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        WriteError(res, 500, "internal", "the webhook receiver failed");
      });

  port_ = o.port == 0 ? server_.bind_to_any_port(o.host)
                      : (server_.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for webhooks on ", o.host, ":", o.port));
  }
  listener_ = std::thread([this] { server_.listen_after_bind(); });
  // stop() is a no-op until the listen loop runs, so wait for it.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!server_.is_running()) {
    if (absl::Now() > deadline) {
      return absl::InternalError("the webhook listener did not start");
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

void WebhookReceiver::Impl::Stop() {
  std::call_once(stop_once_, [this] {
    if (!listener_.joinable()) return;
    server_.stop();
    ShutdownConnections(port_);
    listener_.join();
  });
}

void WebhookReceiver::Impl::CountRejected(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  ++stats_.rejected[reason];
}

void WebhookReceiver::Impl::OnRequest(const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader* reader) {
  if (req.path != options_.path) {
    // An unread body would be parsed as the next request; end the
    // connection instead of reading what nobody asked for.
    if (reader != nullptr) res.set_header("Connection", "close");
    WriteError(res, 404, "not_found", "no such path; webhooks are POSTed to the configured path");
    return;
  }
  if (req.method != "POST" || reader == nullptr) {
    if (reader != nullptr) res.set_header("Connection", "close");
    res.set_header("Allow", "POST");
    CountRejected("wrong_method");
    WriteError(res, 405, "wrong_method", "webhooks must be POSTed");
    return;
  }

  // Counted as it arrives, since chunked bodies have no Content-Length
  // (httplib refuses an over-long declared one itself), and never held
  // beyond max_body_bytes.
  std::string body;
  size_t received = 0;
  bool too_large = false;
  const bool read_ok = (*reader)([&](const char* data, size_t size) {
    received += size;
    if (received > options_.max_body_bytes) {
      too_large = true;
      body.clear();
      body.shrink_to_fit();
      return received <= options_.max_body_bytes + kMaxDrainBytes;
    }
    body.append(data, size);
    return true;
  });
  uint64_t declared = 0;
  if (!read_ok && absl::SimpleAtoi(req.get_header_value("Content-Length"), &declared) &&
      declared > options_.max_body_bytes) {
    too_large = true;  // httplib skipped it because of set_payload_max_length
  }
  if (too_large) {
    res.set_header("Connection", "close");
    CountRejected("too_large");
    WriteError(res, 413, "too_large",
               absl::StrCat("the body exceeds ", options_.max_body_bytes, " bytes"));
    return;
  }
  if (!read_ok) {
    res.set_header("Connection", "close");
    WriteError(res, 400, "bad_request", "the body could not be read");
    return;
  }

  const std::string header =
      req.has_header(kSignatureHeader) ? req.get_header_value(kSignatureHeader) : "";
  WebhookVerifier::Result result;
  if (req.get_header_value_count(kSignatureHeader) > 1) {
    result.rejection = WebhookRejection::kMalformedSignature;
    result.message = "more than one TL-Signature header";
  } else {
    result = verifier_.Verify(header, body, options_.clock->Now());
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
