#include "sim/webhooks.h"

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "sim/common.h"

namespace tlsim {

using nlohmann::json;

const char* WebhookSigningName(WebhookSigning signing) {
  switch (signing) {
    case WebhookSigning::kGood:
      return "good";
    case WebhookSigning::kBad:
      return "bad";
    case WebhookSigning::kStale:
      return "stale";
  }
  return "good";
}

std::optional<WebhookSigning> ParseWebhookSigning(absl::string_view name) {
  for (WebhookSigning s : {WebhookSigning::kGood, WebhookSigning::kBad, WebhookSigning::kStale}) {
    if (name == WebhookSigningName(s)) return s;
  }
  return std::nullopt;
}

const char* WebhookEventType(TaskStatus terminal_status) {
  return terminal_status == TaskStatus::kFailed ? "index.task.failed" : "index.task.ready";
}

std::string NewWebhookEventId(absl::BitGen& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "whe_";
  for (int i = 0; i < 32; ++i) id.push_back(kHex[absl::Uniform(rng, 0, 16)]);
  return id;
}

json WebhookEventBody(const std::string& event_id, const std::string& type, const Task& task,
                      TaskStatus status, absl::Time created_at) {
  json data = {
      {"id", task.id},
      {"metadata", {{"duration", task.metadata.duration}}},
      {"status", TaskStatusName(status)},
      {"tags", json::array()},
  };
  // The engine/model the seed index would have in each version (docs/upstream-api.md §4, §7).
  if (task.version == ApiVersion::kV1_2) {
    data["engines"] =
        json::array({{{"name", "marengo2.6"},
                      {"options", {"visual", "conversation", "text_in_video", "logo"}}}});
  } else {
    data["models"] = json::array({{{"name", "marengo2.7"}, {"options", {"visual", "audio"}}}});
  }
  return json{
      {"id", event_id},
      {"created_at", absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6S%Ez", created_at, absl::UTCTimeZone())},
      {"type", type},
      {"data", std::move(data)},
  };
}

absl::StatusOr<std::pair<std::string, std::string>> SplitWebhookUrl(absl::string_view url) {
  if (!HttpUrlHost(url).has_value()) {
    return absl::InvalidArgumentError("the webhook URL must be an absolute http(s) URL");
  }
  const size_t authority = url.find("://") + 3;
  const size_t end = url.find_first_of("/?#", authority);
  std::string base(url.substr(0, end));
  std::string path(end == absl::string_view::npos ? "" : url.substr(end));
  path = path.substr(0, path.find('#'));  // fragments are not sent
  if (path.empty() || path[0] != '/') path.insert(0, "/");
  return std::make_pair(std::move(base), std::move(path));
}

// ---- WebhookSender --------------------------------------------------------------

WebhookSender::WebhookSender(WebhookSenderOptions options) : options_(std::move(options)) {
  for (int i = 0; i < options_.num_workers; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

WebhookSender::~WebhookSender() { Stop(); }

void WebhookSender::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    queue_.clear();
  }
  stopping_.Notify();
  for (std::thread& t : workers_) t.join();
}

absl::Status WebhookSender::Configure(std::optional<std::string> url,
                                      std::optional<std::string> secret) {
  std::pair<std::string, std::string> split;
  if (url.has_value() && !url->empty()) {
    absl::StatusOr<std::pair<std::string, std::string>> s = SplitWebhookUrl(*url);
    if (!s.ok()) return s.status();
    split = *std::move(s);
  }
  absl::MutexLock lock(&mu_);
  if (url.has_value()) {
    url_ = *std::move(url);
    base_ = std::move(split.first);
    path_ = std::move(split.second);
  }
  if (secret.has_value()) secret_ = *std::move(secret);
  return absl::OkStatus();
}

std::string WebhookSender::url() const {
  absl::MutexLock lock(&mu_);
  return url_;
}

bool WebhookSender::has_secret() const {
  absl::MutexLock lock(&mu_);
  return !secret_.empty();
}

bool WebhookSender::enabled() const {
  absl::MutexLock lock(&mu_);
  return !url_.empty();
}

bool WebhookSender::Send(const std::string& event_id, const std::string& type,
                         const std::string& task_id, std::string body, WebhookSigning signing) {
  absl::MutexLock lock(&mu_);
  if (url_.empty() || stopped_) return false;
  const int64_t seq = next_seq_++;
  log_[seq] = json{
      {"event_id", event_id},
      {"type", type},
      {"task_id", task_id},
      {"status_code", 0},
      {"attempts", 0},
      {"done", false},
      {"signing", WebhookSigningName(signing)},
      {"body", body},
  };
  while (log_.size() > options_.max_log_entries) log_.erase(log_.begin());
  queue_.push_back(Delivery{seq, base_, path_, secret_, std::move(body), signing});
  return true;
}

json WebhookSender::DeliveriesJson() const {
  absl::MutexLock lock(&mu_);
  json list = json::array();
  for (const auto& [seq, entry] : log_) list.push_back(entry);
  return json{{"deliveries", std::move(list)}};
}

void WebhookSender::ClearDeliveries() {
  absl::MutexLock lock(&mu_);
  log_.clear();
}

void WebhookSender::WorkerLoop() {
  for (;;) {
    Delivery d;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopped_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&has_work));
      if (stopped_) return;
      d = std::move(queue_.front());
      queue_.pop_front();
    }
    Deliver(d);
  }
}

void WebhookSender::Deliver(const Delivery& d) {
  const size_t attempts = options_.backoff.size() + 1;
  for (size_t attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1 && stopping_.WaitForNotificationWithTimeout(options_.backoff[attempt - 2])) {
      return;
    }
    const int status = Attempt(d);
    const bool ok = status >= 200 && status < 300;
    RecordAttempt(d.seq, status, ok || attempt == attempts);
    if (ok) return;
  }
}

int WebhookSender::Attempt(const Delivery& d) const {
  httplib::Client client(d.base);
  if (!client.is_valid()) return 0;
  client.set_connection_timeout(absl::ToChronoMicroseconds(options_.connect_timeout));
  client.set_read_timeout(absl::ToChronoMicroseconds(options_.io_timeout));
  client.set_write_timeout(absl::ToChronoMicroseconds(options_.io_timeout));
  // t is real unix time, not simulated: the receiver checks it against its
  // own clock, and simulated time may be hours ahead.
  int64_t t = absl::ToUnixSeconds(absl::Now());
  std::string secret = d.secret;
  if (d.signing == WebhookSigning::kStale) t -= 3600;
  if (d.signing == WebhookSigning::kBad) secret = absl::StrCat("wrong-", secret);
  const httplib::Headers headers = {{::tlgw::kWebhookSignatureHeader, WebhookSignatureHeader(secret, t, d.body)}};
  httplib::Result result = client.Post(d.path, headers, d.body, "application/json");
  return result ? result->status : 0;
}

void WebhookSender::RecordAttempt(int64_t seq, int status, bool done) {
  absl::MutexLock lock(&mu_);
  auto it = log_.find(seq);
  if (it == log_.end()) return;  // cleared meanwhile
  json& entry = it->second;
  entry["status_code"] = status;
  entry["attempts"] = entry["attempts"].get<int>() + 1;
  entry["done"] = done;
}

}  // namespace tlsim
