#include "sim/simulator.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "common/connections.h"
#include "nlohmann/json.hpp"
#include "sim/assets.h"
#include "sim/clock.h"
#include "sim/common.h"
#include "sim/faults.h"
#include "sim/link_shaper.h"
#include "sim/model.h"
#include "sim/multipart.h"
#include "sim/rest_api.h"
#include "sim/webhooks.h"

namespace tlsim {
namespace {

using nlohmann::json;

// Bounds memory when a developer leaves the simulator running for days.
constexpr size_t kMaxLoggedRequests = 10000;
constexpr size_t kMaxJsonBodyBytes = 16 << 20;
constexpr size_t kMaxFormValueBytes = 1 << 20;
// Paths can carry a decoded newline; "." would not match it.
constexpr char kAnyPath[] = "[\\s\\S]*";

// Aborts the connection with a TCP RST and nothing written. The fd number
// stays valid (now /dev/null) because httplib still owns and closes it;
// its later writes fail and it drops the connection.
bool ResetConnection(int local_port, int remote_port) {
  bool found = false;
  tlgw::ForEachConnection(local_port, [remote_port, &found](int fd, int peer_port) {
    if (peer_port != remote_port || found) return;
    found = true;
    linger abort_on_close{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      dup2(devnull, fd);  // closes the socket atomically: RST goes out
      close(devnull);
    }
  });
  return found;
}

json QueryJson(const httplib::Params& params) {
  json q = json::object();
  for (const auto& [k, v] : params) {
    if (!q.contains(k)) q[k] = json::array();
    q[k].push_back(v);
  }
  return q;
}

json HeadersJson(const httplib::Headers& headers) {
  json h = json::object();
  for (const auto& [k, v] : headers) {
    std::string name = absl::AsciiStrToLower(k);
    if (h.contains(name)) {
      h[name] = absl::StrCat(h[name].get<std::string>(), ", ", v);
    } else {
      h[name] = v;
    }
  }
  return h;
}

void WriteJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

}  // namespace

class Simulator::Impl {
 public:
  explicit Impl(const SimulatorOptions& options);

  absl::Status Start();
  void Stop();
  int port() const { return port_; }
  const SimulatorOptions& options() const { return options_; }

 private:
  // What the body of a REST request turned out to be.
  struct Body {
    bool ok = true;  // false: malformed multipart; the rest was not read
    std::string raw;
    bool too_large = false;
    std::optional<MultipartCollector> multipart;
  };

  void OnRequest(const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader* reader);
  void HandleRest(const httplib::Request& req, httplib::Response& res,
                  const httplib::ContentReader* reader) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleControl(const httplib::Request& req, httplib::Response& res, const std::string& body)
      ABSL_LOCKS_EXCLUDED(mu_);
  Body ReadBody(const httplib::Request& req, const httplib::ContentReader* reader) const;
  // Serves an injected fault; returns the status answered.
  int ServeFault(const Fault& fault, httplib::Response& res) ABSL_LOCKS_EXCLUDED(mu_);
  void AppendLogLocked(json entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A PUT to a presigned chunk URL: checked, then its body streamed through
  // SHA-256 and counted, never kept. Logs `entry` with the chunk's digest.
  void HandlePresigned(const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader* reader, const std::optional<Fault>& fault,
                       json entry) ABSL_LOCKS_EXCLUDED(mu_);
  // The /_sim/assets, /_sim/indexed-assets and /_sim/uploads endpoints;
  // true if `req` was one of them.
  bool HandleAssetControl(const httplib::Request& req, httplib::Response& res,
                          const std::vector<std::string>& seg, const std::string& raw_body)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The /_sim/webhooks endpoints; true if `req` was one of them.
  bool HandleWebhookControl(const httplib::Request& req, httplib::Response& res,
                            const std::vector<std::string>& seg, const std::string& raw_body)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Emits the events of every arrival at ready/failed up to now, with the
  // webhook configuration of now, and tells the scanner when the next one
  // is due. Called before anything that changes time, statuses or the
  // configuration, so an arrival is judged by the configuration current
  // when it happened, whether or not the scanner thread got to it yet.
  void SettleTransitionsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues one event for `task`; returns its id, or nullopt if no webhook
  // URL is configured.
  std::optional<std::string> SendEventLocked(const Task& task, TaskStatus status,
                                             const std::string& type, absl::Time created_at,
                                             WebhookSigning signing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Simulated time moves by itself with the real clock, so this thread
  // sleeps until the next arrival is due (or it is woken) and settles.
  void ScanLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const SimulatorOptions options_;
  httplib::Server server_;
  std::thread listener_;
  int port_ = -1;
  absl::Notification stopping_;  // wakes latency faults early on Stop
  std::once_flag stop_once_;

  mutable absl::Mutex mu_;
  SimClock clock_ ABSL_GUARDED_BY(mu_);
  RestApi api_ ABSL_GUARDED_BY(mu_);
  FaultList faults_ ABSL_GUARDED_BY(mu_);
  std::deque<json> log_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;

  // Webhooks. The sender has its own lock, taken after mu_ when both are.
  WebhookSender webhooks_;
  std::thread scanner_;
  absl::CondVar scan_cv_;  // signalled when the next arrival may be earlier
  bool scanner_stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_transition_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);  // event ids
  // The presigned PUTs' shared link, when limited (thread-safe itself).
  std::unique_ptr<LinkShaper> link_;
};

namespace {

RestApiOptions ToRestApiOptions(const SimulatorOptions& o) {
  RestApiOptions r;
  r.api_keys = o.api_keys;
  r.stage = absl::Seconds(o.stage_seconds);
  r.create_rate_limit = o.create_rate_limit;
  r.rate_window = absl::Seconds(o.rate_window_seconds);
  r.send_retry_after = o.send_retry_after;
  r.max_video_file_bytes = o.max_video_file_bytes;
  r.seed_index_id = o.seed_index_id;
  r.seed_integration_id = o.seed_integration_id;
  r.assets.stage = absl::Seconds(o.stage_seconds);
  r.assets.chunk_bytes = o.multipart_chunk_bytes;
  r.assets.initial_urls = o.multipart_initial_urls;
  r.assets.url_ttl = absl::Seconds(o.presigned_url_ttl_seconds);
  r.assets.max_direct_bytes = o.max_asset_file_bytes;
  r.assets.empty_success_status = o.empty_success_status;
  return r;
}

}  // namespace

Simulator::Impl::Impl(const SimulatorOptions& options)
    : options_(options),
      clock_(options.manual_clock),
      api_(ToRestApiOptions(options), clock_.Now()),
      webhooks_(WebhookSenderOptions()),
      link_(options.presigned_link_mbps > 0 ? std::make_unique<LinkShaper>(options.presigned_link_mbps * 1e6)
                                            : nullptr) {}

absl::Status Simulator::Impl::Start() {
  const SimulatorOptions& o = options_;
  if (o.stage_seconds < 0 || o.create_rate_limit < 0 || o.rate_window_seconds <= 0 ||
      o.num_threads < 1 || o.keep_alive_timeout_seconds < 0) {
    return absl::InvalidArgumentError(
        "stage_seconds, create_rate_limit and keep_alive_timeout_seconds must "
        "be >= 0; rate_window_seconds and num_threads > 0");
  }
  if (o.multipart_chunk_bytes == 0 || o.multipart_initial_urls < 0 ||
      o.presigned_url_ttl_seconds <= 0 || !(o.presigned_link_mbps >= 0) ||
      (o.empty_success_status != 200 && o.empty_success_status != 204)) {
    return absl::InvalidArgumentError(
        "multipart_chunk_bytes and presigned_url_ttl_seconds must be > 0, presigned_link_mbps >= 0, "
        "multipart_initial_urls >= 0, empty_success_status 200 or 204");
  }
  for (const std::string* id : {&o.seed_index_id, &o.seed_integration_id}) {
    if (!id->empty() && !IsObjectId(*id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("seed id '", *id, "' is not 24 lowercase hex"));
    }
  }
  if (absl::Status s = webhooks_.Configure(o.webhook_url, o.webhook_secret); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("webhook_url: ", s.message()));
  }
  const size_t threads = static_cast<size_t>(o.num_threads);
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.set_keep_alive_max_count(1000000);  // httplib's default is 5
  server_.set_keep_alive_timeout(o.keep_alive_timeout_seconds);
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
  server_.Get(kAnyPath, plain);
  server_.Delete(kAnyPath, plain);
  // PUT streams too: presigned chunk bodies are hashed as they arrive.
  server_.Put(kAnyPath,
              [this](const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) { OnRequest(req, res, &reader); });
  server_.Patch(kAnyPath, plain);
  server_.Post(kAnyPath,
               [this](const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader) { OnRequest(req, res, &reader); });
  server_.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        WriteJson(res, 500, ErrorBody("internal_error", "Simulator error."));
      });

  port_ = o.port == 0 ? server_.bind_to_any_port(o.host)
                      : (server_.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", o.host, ":", o.port));
  }
  listener_ = std::thread([this] { server_.listen_after_bind(); });
  scanner_ = std::thread([this] { ScanLoop(); });
  // stop() is a no-op until the listen loop runs, so wait for it.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!server_.is_running()) {
    if (absl::Now() > deadline) {
      return absl::InternalError("the HTTP listener did not start");
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

void Simulator::Impl::Stop() {
  std::call_once(stop_once_, [this] {
    stopping_.Notify();
    if (scanner_.joinable()) {
      {
        absl::MutexLock lock(&mu_);
        scanner_stop_ = true;
        scan_cv_.Signal();
      }
      scanner_.join();
    }
    webhooks_.Stop();
    if (!listener_.joinable()) return;
    server_.stop();
    // Idle keep-alive connections would hold worker threads (and this join)
    // for the keep-alive timeout; end them now.
    tlgw::ShutdownConnections(port_);
    listener_.join();
  });
}

void Simulator::Impl::OnRequest(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader* reader) {
  if (req.path == "/_sim" || absl::StartsWith(req.path, "/_sim/")) {
    Body body = ReadBody(req, reader);
    HandleControl(req, res, reader != nullptr ? body.raw : req.body);
    return;
  }
  HandleRest(req, res, reader);
}

Simulator::Impl::Body Simulator::Impl::ReadBody(const httplib::Request& req,
                                                const httplib::ContentReader* reader) const {
  Body body;
  if (reader == nullptr) {
    body.raw = req.body;
    return body;
  }
  if (req.is_multipart_form_data()) {
    // Stream: file parts are hashed and counted, never held in memory.
    const bool asset = absl::EndsWith(req.path, "/assets");
    body.multipart.emplace(asset ? AssetFileFieldNames() : TaskFileFieldNames(),
                           asset ? AssetValueFieldNames() : TaskValueFieldNames(),
                           options_.max_video_file_bytes, kMaxFormValueBytes);
    MultipartCollector& c = *body.multipart;
    body.ok = (*reader)(
        [&c](const httplib::MultipartFormData& part) {
          return c.OnPart(part.name, part.filename, part.content_type);
        },
        [&c](const char* data, size_t size) { return c.OnData(data, size); });
    c.Finish();
    return body;
  }
  body.ok = (*reader)([&body](const char* data, size_t size) {
    if (body.raw.size() + size > kMaxJsonBodyBytes) {
      body.too_large = true;  // keep draining so the client gets an answer
    } else {
      body.raw.append(data, size);
    }
    return true;
  });
  return body;
}

void Simulator::Impl::HandleRest(const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader* reader) {
  std::optional<ApiVersion> version;
  std::string rest_path;
  for (ApiVersion v : {ApiVersion::kV1_2, ApiVersion::kV1_3}) {
    const std::string prefix = absl::StrCat("/", VersionName(v));
    if (req.path == prefix || absl::StartsWith(req.path, prefix + "/")) {
      version = v;
      rest_path = req.path.substr(prefix.size());
    }
  }
  json entry = {
      {"method", req.method},
      {"path", req.path},
      {"query", QueryJson(req.params)},
      {"api_key",
       req.has_header("x-api-key") ? json(req.get_header_value("x-api-key")) : json(nullptr)},
      {"content_type", req.get_header_value("Content-Type")},
      {"headers", HeadersJson(req.headers)},
      {"json", nullptr},
      {"form", json::object()},
      {"files", json::object()},
  };
  std::optional<Fault> fault;
  {
    absl::MutexLock lock(&mu_);
    entry["seq"] = next_seq_++;
    fault = faults_.Take(req.method, req.path);
  }
  if (fault.has_value() && fault->kind == FaultKind::kLatency) {
    stopping_.WaitForNotificationWithTimeout(absl::Milliseconds(fault->latency_ms));
    fault.reset();
  }
  if (fault.has_value() && fault->kind == FaultKind::kReset) {
    entry["status"] = 0;  // never answered
    {
      // Logged first: the client may ask for the log as soon as it sees
      // the reset.
      absl::MutexLock lock(&mu_);
      AppendLogLocked(std::move(entry));
    }
    if (!ResetConnection(req.local_port, req.remote_port)) {
      res.set_header("Connection", "close");
      WriteJson(res, 500,
                ErrorBody("internal_error", "The simulator could not reset this connection."));
    }
    return;
  }

  if (fault.has_value() && fault->kind == FaultKind::kEarlyStatus) {
    // The body is left unread: the client learns of the refusal while it
    // is still sending (or waiting to send) the rest.
    stopping_.WaitForNotificationWithTimeout(absl::Milliseconds(fault->latency_ms));
    WriteJson(res, fault->status,
              ErrorBody("parameter_invalid",
                        absl::StrCat("Injected fault: HTTP ", fault->status, " before the body was read.")));
    if (version.has_value()) res.set_header("X-Api-Version", VersionName(*version));
    entry["status"] = fault->status;
    absl::MutexLock lock(&mu_);
    AppendLogLocked(std::move(entry));
    return;
  }

  if (AssetApi::IsPresignedPath(req.path)) {
    HandlePresigned(req, res, reader, fault, std::move(entry));
    return;
  }

  // Read the whole body before answering, even for faults, so clients see
  // the response rather than a broken pipe.
  Body body = ReadBody(req, reader);
  ApiRequest api_request;
  api_request.method = req.method;
  api_request.version = version.value_or(ApiVersion::kV1_3);
  api_request.path = rest_path;
  api_request.query = std::multimap<std::string, std::string>(req.params.begin(), req.params.end());
  if (req.has_header("x-api-key")) {
    api_request.api_key = req.get_header_value("x-api-key");
  }
  api_request.content_type = req.get_header_value("Content-Type");
  // Presigned URLs point where the client reached us.
  api_request.origin = absl::StrCat(
      "http://",
      req.has_header("Host") ? req.get_header_value("Host")
                             : absl::StrCat(options_.host, ":", port_));
  if (body.multipart.has_value()) {
    api_request.multipart = true;
    api_request.form = body.multipart->values();
    api_request.files = body.multipart->files();
    api_request.oversized_values = body.multipart->oversized_values();
    for (const auto& [name, value] : api_request.form) entry["form"][name] = value;
    for (const auto& [name, f] : api_request.files) {
      entry["files"][name] = {{"filename", f.filename},
                              {"content_type", f.content_type},
                              {"size", f.size},
                              {"sha256", f.sha256}};
    }
  } else {
    api_request.body = body.raw;
    if (!body.raw.empty()) {
      json parsed = json::parse(body.raw, nullptr, false);
      if (!parsed.is_discarded()) entry["json"] = std::move(parsed);
    }
  }

  const bool late_answer = fault.has_value() && fault->kind == FaultKind::kLateAnswer;
  int status;
  if (fault.has_value() && !late_answer) {
    status = ServeFault(*fault, res);
  } else if (!body.ok || body.too_large) {
    // The body was not (fully) read; the connection cannot be reused.
    res.set_header("Connection", "close");
    status = body.too_large ? 413 : 400;
    WriteJson(res, status,
              ErrorBody("parameter_invalid", body.too_large ? "The request body is too large."
                                                            : "The multipart body is malformed."));
  } else if (!version.has_value()) {
    status = 404;
    WriteJson(
        res, status,
        ErrorBody("resource_not_exist", absl::StrCat("No endpoint ", req.method, " ", req.path,
                                                     "; paths start with /v1.2 or /v1.3.")));
  } else {
    ApiResponse api_response;
    {
      absl::MutexLock lock(&mu_);
      // Settled first, so e.g. a task deleted right after it became ready
      // still gets its event.
      SettleTransitionsLocked();
      api_response = api_.Handle(api_request, clock_.Now());
      if (req.method == "POST") SettleTransitionsLocked();  // new tasks
    }
    status = api_response.status;
    res.status = status;
    for (const auto& [name, value] : api_response.headers) {
      res.set_header(name, value);
    }
    if (api_response.body.has_value()) {
      res.set_content(DumpJson(*api_response.body), "application/json");
    }
  }
  if (version.has_value()) res.set_header("X-Api-Version", VersionName(*version));
  entry["status"] = status;
  {
    absl::MutexLock lock(&mu_);
    AppendLogLocked(std::move(entry));
  }
  // Served and logged; the answer waits (the request is in the log, a
  // created task in GET /tasks, while the client still waits for it).
  if (late_answer) stopping_.WaitForNotificationWithTimeout(absl::Milliseconds(fault->latency_ms));
}

int Simulator::Impl::ServeFault(const Fault& fault, httplib::Response& res) {
  switch (fault.kind) {
    case FaultKind::kStatus:
      if (fault.retry_after_seconds >= 0) {
        res.set_header("Retry-After", absl::StrCat(fault.retry_after_seconds));
      }
      for (const auto& [name, value] : fault.headers) res.set_header(name, value);
      if (fault.body.has_value()) {
        res.status = fault.status;
        res.set_content(*fault.body, "application/json");
        return fault.status;
      }
      WriteJson(
          res, fault.status,
          ErrorBody("internal_error", absl::StrCat("Injected fault: HTTP ", fault.status, ".")));
      return fault.status;
    case FaultKind::kMalformedJson:
      res.status = fault.status;
      res.set_content("{\"_id\": ", "application/json");
      return fault.status;
    case FaultKind::kWrongType:
      WriteJson(res, fault.status,
                json{{"_id", 5},
                     {"video_id", false},
                     {"index_id", json::object()},
                     {"status", json::array({"x"})},
                     {"created_at", 12},
                     {"data", "oops"},
                     {"page_info", json::array()}});
      return fault.status;
    case FaultKind::kTruncatedJson: {
      res.status = fault.status;
      const std::string full = DumpJson(json{{"_id", "0123456789abcdef0123abcd"},
                                             {"index_id", options_.seed_index_id},
                                             {"status", "ready"},
                                             {"created_at", "2024-01-01T00:00:00.000Z"},
                                             {"updated_at", "2024-01-01T00:00:10.000Z"}});
      // Content-Length says `full`, half of it is sent, then the provider
      // fails and httplib drops the connection.
      res.set_content_provider(full.size(), "application/json",
                               [full](size_t, size_t, httplib::DataSink& sink) {
                                 sink.write(full.data(), full.size() / 2);
                                 return false;
                               });
      return fault.status;
    }
    case FaultKind::kRateLimit: {
      ApiResponse r;
      {
        absl::MutexLock lock(&mu_);
        r = api_.TooManyRequests(fault.retry_after_seconds,
                                 fault.send_retry_after.value_or(options_.send_retry_after),
                                 clock_.Now());
      }
      for (const auto& [name, value] : r.headers) res.set_header(name, value);
      WriteJson(res, r.status, *r.body);
      return r.status;
    }
    case FaultKind::kLatency:
    case FaultKind::kReset:
    case FaultKind::kEarlyStatus:
      break;  // handled before the body is read
    case FaultKind::kLateAnswer:
      break;  // served normally, answered late
  }
  return res.status;
}

void Simulator::Impl::AppendLogLocked(json entry) {
  log_.push_back(std::move(entry));
  if (log_.size() > kMaxLoggedRequests) log_.pop_front();
}

void Simulator::Impl::HandleControl(const httplib::Request& req, httplib::Response& res,
                                    const std::string& raw_body) {
  const std::vector<std::string> seg =
      absl::StrSplit(req.path.substr(1), '/', absl::SkipEmpty());  // "_sim", ...
  const std::string& m = req.method;
  const size_t n = seg.size();
  auto bad = [&res](absl::string_view message) {
    WriteJson(res, 400, ErrorBody("parameter_invalid", message));
  };
  auto parse_body = [&](json* out) {
    *out = raw_body.empty() ? json::object() : json::parse(raw_body, nullptr, false);
    if (out->is_discarded() || !out->is_object()) {
      bad("The body must be a JSON object.");
      return false;
    }
    return true;
  };

  if (n == 2 && seg[1] == "health" && m == "GET") {
    WriteJson(res, 200, json{{"status", "ok"}});
    return;
  }
  if (n == 2 && seg[1] == "requests" && m == "GET") {
    const std::string filter = req.get_param_value("path_contains");
    std::vector<json> entries;
    {
      absl::MutexLock lock(&mu_);
      for (const json& e : log_) {
        if (filter.empty() || absl::StrContains(e["path"].get<std::string>(), filter)) {
          entries.push_back(e);
        }
      }
    }
    // Entries are appended when answered; list them in arrival order.
    std::sort(entries.begin(), entries.end(), [](const json& a, const json& b) {
      return a["seq"].get<int64_t>() < b["seq"].get<int64_t>();
    });
    WriteJson(res, 200, json{{"requests", entries}});
    return;
  }
  if (n == 2 && seg[1] == "requests" && m == "DELETE") {
    absl::MutexLock lock(&mu_);
    log_.clear();
    WriteJson(res, 200, json::object());
    return;
  }
  if (n == 2 && seg[1] == "faults") {
    if (m == "POST") {
      json spec;
      if (!parse_body(&spec)) return;
      absl::StatusOr<int> id;
      {
        absl::MutexLock lock(&mu_);
        id = faults_.Add(spec);
      }
      if (!id.ok()) return bad(id.status().message());
      WriteJson(res, 200, json{{"id", *id}});
      return;
    }
    if (m == "GET") {
      absl::MutexLock lock(&mu_);
      WriteJson(res, 200, json{{"faults", faults_.ToJson()}});
      return;
    }
    if (m == "DELETE") {
      absl::MutexLock lock(&mu_);
      faults_.Clear();
      WriteJson(res, 200, json::object());
      return;
    }
  }
  if (n == 3 && seg[1] == "faults" && m == "DELETE") {
    int id = 0;
    bool removed = false;
    if (absl::SimpleAtoi(seg[2], &id)) {
      absl::MutexLock lock(&mu_);
      removed = faults_.Remove(id);
    }
    if (!removed) {
      WriteJson(res, 404, ErrorBody("resource_not_exist", "No such fault."));
      return;
    }
    WriteJson(res, 200, json::object());
    return;
  }
  if (n == 2 && seg[1] == "clock" && m == "GET") {
    absl::MutexLock lock(&mu_);
    WriteJson(res, 200, json{{"now", FormatRfc3339(clock_.Now())}, {"manual", clock_.manual()}});
    return;
  }
  if (n == 3 && seg[1] == "clock" && seg[2] == "advance" && m == "POST") {
    json body;
    if (!parse_body(&body)) return;
    auto seconds = body.find("seconds");
    if (seconds == body.end() || !seconds->is_number() || seconds->get<double>() < 0) {
      return bad("seconds must be a number >= 0.");
    }
    absl::MutexLock lock(&mu_);
    SettleTransitionsLocked();
    clock_.Advance(absl::Seconds(seconds->get<double>()));
    // Every arrival the jump passed over is sent before this answers.
    SettleTransitionsLocked();
    WriteJson(res, 200, json{{"now", FormatRfc3339(clock_.Now())}});
    return;
  }
  if (n == 2 && seg[1] == "indexes" && m == "POST") {
    json body;
    if (!parse_body(&body)) return;
    auto name = body.find("index_name");
    auto id = body.find("index_id");
    if (name == body.end() || !name->is_string()) {
      return bad("index_name (string) is required.");
    }
    if (id != body.end() && !id->is_string()) return bad("index_id must be a string.");
    absl::StatusOr<std::string> created;
    {
      absl::MutexLock lock(&mu_);
      created = api_.AddIndex(
          id == body.end() ? std::nullopt : std::optional<std::string>(id->get<std::string>()),
          name->get<std::string>(), clock_.Now());
    }
    if (!created.ok()) {
      if (absl::IsAlreadyExists(created.status())) {
        WriteJson(res, 409, ErrorBody("index_name_already_exists", created.status().message()));
        return;
      }
      return bad(created.status().message());
    }
    WriteJson(res, 200, json{{"_id", *created}});
    return;
  }
  if (n == 2 && seg[1] == "integrations" && m == "POST") {
    json body;
    if (!parse_body(&body)) return;
    auto id = body.find("integration_id");
    auto files = body.find("files");
    if (id != body.end() && !id->is_string()) {
      return bad("integration_id must be a string.");
    }
    if (files == body.end() || !files->is_array()) {
      return bad("files (array) is required.");
    }
    std::vector<IntegrationFile> list;
    for (const json& f : *files) {
      auto filename = f.is_object() ? f.find("filename") : f.end();
      if (!f.is_object() || filename == f.end() || !filename->is_string()) {
        return bad("each file needs a filename (string).");
      }
      auto broken = f.find("broken");
      if (broken != f.end() && !broken->is_boolean()) {
        return bad("broken must be a boolean.");
      }
      list.push_back({filename->get<std::string>(), broken != f.end() && broken->get<bool>()});
    }
    absl::StatusOr<std::string> created;
    {
      absl::MutexLock lock(&mu_);
      created = api_.PutIntegration(
          id == body.end() ? std::nullopt : std::optional<std::string>(id->get<std::string>()),
          std::move(list));
    }
    if (!created.ok()) return bad(created.status().message());
    WriteJson(res, 200, json{{"_id", *created}});
    return;
  }
  if (n == 4 && seg[1] == "tasks" && seg[3] == "status" && m == "POST") {
    json body;
    if (!parse_body(&body)) return;
    auto status = body.find("status");
    std::optional<TaskStatus> parsed;
    if (status != body.end() && status->is_string()) {
      parsed = ParseTaskStatus(status->get<std::string>());
    }
    if (!parsed.has_value()) {
      return bad(
          "status must be one of validating, pending, queued, "
          "indexing, ready, failed.");
    }
    absl::StatusOr<TaskState> state;
    {
      absl::MutexLock lock(&mu_);
      SettleTransitionsLocked();
      state = api_.ForceStatus(seg[2], *parsed, clock_.Now());
      SettleTransitionsLocked();
    }
    if (!state.ok()) {
      WriteJson(res, 404, ErrorBody("resource_not_exist", state.status().message()));
      return;
    }
    WriteJson(res, 200,
              json{{"_id", seg[2]},
                   {"status", TaskStatusName(state->status)},
                   {"updated_at", FormatRfc3339(state->updated_at)}});
    return;
  }
  if (HandleWebhookControl(req, res, seg, raw_body)) return;
  if (HandleAssetControl(req, res, seg, raw_body)) return;
  if (n == 2 && seg[1] == "reset" && m == "POST") {
    absl::MutexLock lock(&mu_);
    SettleTransitionsLocked();
    api_.Reset(clock_.Now());
    SettleTransitionsLocked();
    faults_.Clear();
    log_.clear();
    webhooks_.ClearDeliveries();
    WriteJson(res, 200, json::object());
    return;
  }
  WriteJson(
      res, 404,
      ErrorBody("resource_not_exist", absl::StrCat("No control endpoint ", m, " ", req.path, ".")));
}

// ---- Webhooks -----------------------------------------------------------------

void Simulator::Impl::SettleTransitionsLocked() {
  absl::Time next;
  const std::vector<TerminalTransition> transitions =
      api_.TakeTerminalTransitions(clock_.Now(), &next);
  if (next < next_transition_) scan_cv_.Signal();
  next_transition_ = next;
  for (const TerminalTransition& t : transitions) {
    const Task* task = api_.FindTask(t.task_id);
    if (task == nullptr) continue;
    // Without a URL the arrival is settled all the same: configuring one
    // later does not replay the past.
    if (!SendEventLocked(*task, t.status, WebhookEventType(t.status), t.at, WebhookSigning::kGood)
             .has_value()) {
      break;
    }
  }
}

std::optional<std::string> Simulator::Impl::SendEventLocked(const Task& task, TaskStatus status,
                                                            const std::string& type,
                                                            absl::Time created_at,
                                                            WebhookSigning signing) {
  if (!webhooks_.enabled()) return std::nullopt;
  std::string id = NewWebhookEventId(rng_);
  const json body = WebhookEventBody(id, type, task, status, created_at);
  // Only queued here: the HTTP call happens on the sender's threads,
  // never under mu_.
  if (!webhooks_.Send(id, type, task.id, DumpJson(body), signing)) return std::nullopt;
  return id;
}

void Simulator::Impl::ScanLoop() {
  absl::MutexLock lock(&mu_);
  while (!scanner_stop_) {
    SettleTransitionsLocked();
    if (clock_.manual() || next_transition_ == absl::InfiniteFuture()) {
      // Only a request (new task, forced status, advance) changes anything,
      // and those settle themselves and signal.
      scan_cv_.Wait(&mu_);
    } else {
      // Simulated time runs at the real rate; 1 ms past the arrival so it
      // has surely happened.
      scan_cv_.WaitWithTimeout(
          &mu_,
          std::max(next_transition_ - clock_.Now(), absl::ZeroDuration()) + absl::Milliseconds(1));
    }
  }
}

bool Simulator::Impl::HandleWebhookControl(const httplib::Request& req, httplib::Response& res,
                                           const std::vector<std::string>& seg,
                                           const std::string& raw_body) {
  const size_t n = seg.size();
  if (n < 2 || seg[1] != "webhooks") return false;
  const std::string& m = req.method;
  auto bad = [&res](absl::string_view message) {
    WriteJson(res, 400, ErrorBody("parameter_invalid", message));
    return true;
  };
  // A JSON object with only the `allowed` keys.
  auto parse_body = [&](std::initializer_list<absl::string_view> allowed, json* out) {
    *out = raw_body.empty() ? json::object() : json::parse(raw_body, nullptr, false);
    if (out->is_discarded() || !out->is_object()) {
      bad("The body must be a JSON object.");
      return false;
    }
    for (const auto& item : out->items()) {
      if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
        bad(absl::StrCat("Unknown field ", item.key(), "."));
        return false;
      }
    }
    return true;
  };
  auto config_json = [this] {
    // Whether a secret is set, never the secret.
    return json{{"url", webhooks_.url()}, {"secret_set", webhooks_.has_secret()}};
  };

  if (n == 2 && m == "GET") {
    WriteJson(res, 200, webhooks_.DeliveriesJson());
    return true;
  }
  if (n == 2 && m == "DELETE") {
    webhooks_.ClearDeliveries();
    WriteJson(res, 200, json::object());
    return true;
  }
  if (n == 3 && seg[2] == "config" && m == "GET") {
    WriteJson(res, 200, config_json());
    return true;
  }
  if (n == 3 && seg[2] == "config" && m == "POST") {
    json body;
    if (!parse_body({"url", "secret"}, &body)) return true;
    std::optional<std::string> url, secret;
    for (auto [name, out] : {std::make_pair("url", &url), std::make_pair("secret", &secret)}) {
      auto it = body.find(name);
      if (it == body.end()) continue;
      if (!it->is_string()) return bad(absl::StrCat(name, " must be a string."));
      *out = it->get<std::string>();
    }
    absl::Status status;
    {
      absl::MutexLock lock(&mu_);
      // Arrivals so far go out under the configuration they happened in.
      SettleTransitionsLocked();
      status = webhooks_.Configure(std::move(url), std::move(secret));
    }
    if (!status.ok()) return bad(absl::StrCat("url: ", status.message(), "."));
    WriteJson(res, 200, config_json());
    return true;
  }
  if (n == 3 && seg[2] == "send" && m == "POST") {
    json body;
    if (!parse_body({"task_id", "type", "signature"}, &body)) return true;
    auto task_id = body.find("task_id");
    auto type = body.find("type");
    auto signature = body.find("signature");
    if (task_id == body.end() || !task_id->is_string()) {
      return bad("task_id (string) is required.");
    }
    if (type != body.end() && (!type->is_string() || type->get<std::string>().empty())) {
      return bad("type must be a non-empty string.");
    }
    std::optional<WebhookSigning> signing = WebhookSigning::kGood;
    if (signature != body.end()) {
      signing = signature->is_string() ? ParseWebhookSigning(signature->get<std::string>())
                                       : std::nullopt;
      if (!signing.has_value()) return bad("signature must be good, bad or stale.");
    }
    if (!webhooks_.enabled()) {
      return bad("No webhook URL is configured; POST /_sim/webhooks/config first.");
    }
    std::optional<std::string> id;
    {
      absl::MutexLock lock(&mu_);
      const Task* task = api_.FindTask(task_id->get<std::string>());
      if (task == nullptr) {
        WriteJson(
            res, 404,
            ErrorBody("resource_not_exist",
                      absl::StrCat("The task ", task_id->get<std::string>(), " does not exist.")));
        return true;
      }
      const absl::Time now = clock_.Now();
      const TaskStatus status = ComputeState(*task, now).status;
      const std::string event_type =
          type != body.end() ? type->get<std::string>() : WebhookEventType(status);
      id = SendEventLocked(*task, status, event_type, now, *signing);
    }
    if (!id.has_value()) {
      return bad("No webhook URL is configured; POST /_sim/webhooks/config first.");
    }
    WriteJson(res, 200, json{{"event_id", *id}});
    return true;
  }
  WriteJson(
      res, 404,
      ErrorBody("resource_not_exist", absl::StrCat("No control endpoint ", m, " ", req.path, ".")));
  return true;
}

// ---- Assets -------------------------------------------------------------------

void Simulator::Impl::HandlePresigned(const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader* reader,
                                      const std::optional<Fault>& fault, json entry) {
  uint64_t size = 0;
  Sha256 hash;
  // Reads the body through, hashing it when `keep`; false if the client
  // broke off.
  auto read = [&](bool keep) {
    auto take = [&](const char* data, size_t n) {
      if (link_ != nullptr) link_->Take(n);
      size += n;
      if (keep) hash.Update(data, n);
      return true;
    };
    if (reader == nullptr) return take(req.body.data(), req.body.size());
    return (*reader)(take);
  };
  int status;
  if (fault.has_value()) {
    read(false);
    status = ServeFault(*fault, res);
  } else {
    PresignedAnswer answer;
    if (req.method != "PUT") {
      read(false);
      answer.status = 405;
      answer.error_code = "MethodNotAllowed";
      answer.error_message = "The specified method is not allowed against this resource.";
    } else {
      ChunkPut put;
      std::optional<PresignedAnswer> refused;
      {
        absl::MutexLock lock(&mu_);
        refused = api_.assets().BeginChunkPut(req.path, req.get_param_value("X-Amz-Signature"),
                                              clock_.Now(), &put);
      }
      if (refused.has_value()) {
        read(false);
        answer = *refused;
      } else if (!read(true)) {
        res.set_header("Connection", "close");
        answer.status = 400;
        answer.error_code = "IncompleteBody";
        answer.error_message = "You did not provide the number of bytes specified.";
      } else {
        const std::string sha256 = hash.HexDigest();
        {
          absl::MutexLock lock(&mu_);
          answer = api_.assets().FinishChunkPut(put, size, sha256, clock_.Now());
        }
        entry["chunk"] = {{"upload_id", put.upload_id},
                          {"index", put.index},
                          {"size", size},
                          {"sha256", sha256},
                          {"etag", answer.etag}};
      }
    }
    status = answer.status;
    res.status = status;
    if (!answer.etag.empty()) res.set_header("ETag", answer.etag);
    const std::string xml = answer.XmlBody();
    if (!xml.empty()) res.set_content(xml, "application/xml");
  }
  entry["status"] = status;
  absl::MutexLock lock(&mu_);
  AppendLogLocked(std::move(entry));
}

bool Simulator::Impl::HandleAssetControl(const httplib::Request& req, httplib::Response& res,
                                         const std::vector<std::string>& seg,
                                         const std::string& raw_body) {
  const size_t n = seg.size();
  if (n < 2 || (seg[1] != "assets" && seg[1] != "indexed-assets" && seg[1] != "uploads")) {
    return false;
  }
  const std::string& m = req.method;
  auto bad = [&res](absl::string_view message) {
    WriteJson(res, 400, ErrorBody("parameter_invalid", message));
    return true;
  };
  auto not_found = [&res](absl::string_view message) {
    WriteJson(res, 404, ErrorBody("resource_not_exist", message));
    return true;
  };
  json body = raw_body.empty() ? json::object() : json::parse(raw_body, nullptr, false);
  if (m == "POST" && (body.is_discarded() || !body.is_object())) {
    return bad("The body must be a JSON object.");
  }
  if (n == 3 && seg[1] == "assets" && seg[2] == "config") {
    absl::MutexLock lock(&mu_);
    if (m == "POST") {
      if (absl::Status s = api_.assets().Configure(body); !s.ok()) return bad(s.message());
    } else if (m != "GET") {
      return false;
    }
    WriteJson(res, 200, api_.assets().ConfigJson());
    return true;
  }
  if (n == 3 && seg[1] == "uploads" && m == "GET") {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<json> out = api_.assets().UploadDebugJson(seg[2], clock_.Now());
    if (!out.ok()) return not_found(out.status().message());
    WriteJson(res, 200, *out);
    return true;
  }
  if (n == 4 && seg[3] == "status" && m == "POST" && seg[1] != "uploads") {
    auto status = body.find("status");
    const std::string name =
        status != body.end() && status->is_string() ? status->get<std::string>() : "";
    absl::StatusOr<std::string> now_status;
    absl::MutexLock lock(&mu_);
    if (seg[1] == "assets") {
      std::optional<AssetStatus> parsed = ParseAssetStatus(name);
      if (!parsed) return bad("status must be one of processing, ready, failed.");
      now_status = api_.assets().ForceAssetStatus(seg[2], *parsed, clock_.Now());
    } else {
      std::optional<IndexedAssetStatus> parsed = ParseIndexedAssetStatus(name);
      if (!parsed) return bad("status must be one of pending, queued, indexing, ready, failed.");
      now_status = api_.assets().ForceIndexedAssetStatus(seg[2], *parsed, clock_.Now());
    }
    if (!now_status.ok()) return not_found(now_status.status().message());
    WriteJson(res, 200, json{{"_id", seg[2]}, {"status", *now_status}});
    return true;
  }
  return false;
}

// ---- Simulator ----------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Start(const SimulatorOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (absl::Status s = impl->Start(); !s.ok()) {
    impl->Stop();
    return s;
  }
  return absl::WrapUnique(new Simulator(std::move(impl)));
}

Simulator::Simulator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Simulator::~Simulator() { Stop(); }

int Simulator::port() const { return impl_->port(); }

std::string Simulator::base_url(const std::string& version) const {
  return absl::StrCat("http://", impl_->options().host, ":", impl_->port(), "/", version);
}

void Simulator::Stop() { impl_->Stop(); }

}  // namespace tlsim
