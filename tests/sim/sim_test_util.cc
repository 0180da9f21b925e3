#include "tests/sim/sim_test_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace tlsim::testing {

using nlohmann::json;

std::string HttpResult::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

bool HttpResult::HasHeader(const std::string& name) const {
  return headers.find(name) != headers.end();
}

std::string HttpResult::Describe() const {
  if (!transport_ok) return absl::StrCat("transport error ", httplib::to_string(error));
  return absl::StrCat("HTTP ", status, " ", body);
}

SimClient::SimClient(int port, std::string api_key) : port_(port), api_key_(std::move(api_key)) {}

httplib::Headers SimClient::KeyHeaders() const {
  if (api_key_.empty()) return {};
  return {{"x-api-key", api_key_}};
}

HttpResult SimClient::From(const httplib::Result& result) {
  HttpResult r;
  r.error = result.error();
  if (!result) return r;
  r.transport_ok = true;
  r.status = result->status;
  r.headers = result->headers;
  r.body = result->body;
  r.json = json::parse(r.body, nullptr, false);
  return r;
}

HttpResult SimClient::Get(const std::string& path) {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_read_timeout(10, 0);
  return From(cli.Get(path, KeyHeaders()));
}

HttpResult SimClient::Delete(const std::string& path) {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_read_timeout(10, 0);
  return From(cli.Delete(path, KeyHeaders()));
}

HttpResult SimClient::PostJson(const std::string& path, const json& body) {
  return PostRaw(path, body.dump(), "application/json");
}

HttpResult SimClient::PostRaw(const std::string& path, const std::string& body,
                              const std::string& content_type) {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_read_timeout(10, 0);
  return From(cli.Post(path, KeyHeaders(), body, content_type));
}

HttpResult SimClient::PostForm(const std::string& path,
                               const httplib::MultipartFormDataItems& items) {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_read_timeout(10, 0);
  return From(cli.Post(path, KeyHeaders(), items));
}

HttpResult SimClient::PostForm(const std::string& path,
                               const httplib::MultipartFormDataItems& items,
                               const httplib::MultipartFormDataProviderItems& providers) {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_read_timeout(10, 0);
  return From(cli.Post(path, KeyHeaders(), items, providers));
}

HttpResult SimClient::Control(const std::string& method, const std::string& path,
                              const json& body) {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_read_timeout(10, 0);
  const std::string text = body.is_null() ? "" : body.dump();
  if (method == "GET") return From(cli.Get(path));
  if (method == "DELETE") return From(cli.Delete(path));
  return From(cli.Post(path, text, "application/json"));
}

void SimClient::Advance(double seconds) {
  HttpResult r = Control("POST", "/_sim/clock/advance", {{"seconds", seconds}});
  ASSERT_EQ(r.status, 200) << r.Describe();
}

void SimClient::AddFault(const json& spec) {
  HttpResult r = Control("POST", "/_sim/faults", spec);
  ASSERT_EQ(r.status, 200) << r.Describe();
  ASSERT_TRUE(r.json.contains("id")) << r.Describe();
}

::testing::AssertionResult IsApiError(const HttpResult& r, int status, const std::string& code) {
  if (!r.transport_ok) {
    return ::testing::AssertionFailure() << r.Describe();
  }
  if (r.status != status) {
    return ::testing::AssertionFailure()
           << "want HTTP " << status << " " << code << ", got " << r.Describe();
  }
  if (r.json.is_discarded() || !r.json.is_object() || !r.json.contains("code") ||
      r.json["code"] != code || !r.json.contains("message") || !r.json.contains("docs_url")) {
    return ::testing::AssertionFailure()
           << "want error body with code " << code << ", got " << r.body;
  }
  if (r.Header("Content-Type") != "application/json") {
    return ::testing::AssertionFailure() << "Content-Type is '" << r.Header("Content-Type") << "'";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult IsJsonStatus(const HttpResult& r, int status) {
  if (!r.transport_ok || r.status != status) {
    return ::testing::AssertionFailure() << "want HTTP " << status << ", got " << r.Describe();
  }
  if (r.json.is_discarded()) {
    return ::testing::AssertionFailure() << "body is not JSON: " << r.body;
  }
  return ::testing::AssertionSuccess();
}

SimulatorOptions TestOptions() {
  SimulatorOptions o;
  o.manual_clock = true;
  o.stage_seconds = 2.0;
  o.max_video_file_bytes = 1 << 20;
  o.num_threads = 16;
  return o;
}

std::unique_ptr<Simulator> StartOrDie(const SimulatorOptions& options) {
  absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Start(options);
  EXPECT_TRUE(sim.ok()) << sim.status();
  if (!sim.ok()) return nullptr;
  return std::move(*sim);
}

std::string CreateUrlTask(SimClient& client, const std::string& version, const std::string& url,
                          const std::string& index_id) {
  HttpResult r = client.PostForm(absl::StrCat("/", version, "/tasks"),
                                 {{"index_id", index_id, "", ""}, {"video_url", url, "", ""}});
  const int want = version == "v1.2" ? 200 : 201;
  EXPECT_TRUE(IsJsonStatus(r, want));
  if (r.status != want || !r.json.contains("_id") || !r.json["_id"].is_string()) {
    return "";
  }
  return r.json["_id"].get<std::string>();
}

WebhookSink::WebhookSink() {
  // SO_REUSEADDR only: httplib's default SO_REUSEPORT could share a port.
  server_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_.Post("[\\s\\S]*", [this](const httplib::Request& req, httplib::Response& res) {
    absl::MutexLock lock(&mu_);
    deliveries_.push_back(
        {req.path, req.has_header("TL-Signature") ? req.get_header_value("TL-Signature") : "",
         req.get_header_value("Content-Type"), req.body});
    int status = 200;
    if (fail_count_ > 0) {
      --fail_count_;
      status = fail_status_;
    }
    res.status = status;
    res.set_content(status == 200 ? "{}" : R"({"error":"injected"})", "application/json");
  });
  port_ = server_.bind_to_any_port("127.0.0.1");
  EXPECT_GT(port_, 0);
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!server_.is_running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
}

WebhookSink::~WebhookSink() {
  server_.stop();
  thread_.join();
}

std::string WebhookSink::url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

void WebhookSink::FailNext(int count, int status) {
  absl::MutexLock lock(&mu_);
  fail_count_ = count;
  fail_status_ = status;
}

std::vector<WebhookSink::Delivery> WebhookSink::deliveries() const {
  absl::MutexLock lock(&mu_);
  return deliveries_;
}

std::vector<WebhookSink::Delivery> WebhookSink::WaitFor(size_t count,
                                                        absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return deliveries_.size() >= count; };
  mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  return deliveries_;
}

std::string HmacSha256Hex(const std::string& key, const std::string& payload) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppend(&hex, absl::Hex(mac[i], absl::kZeroPad2));
  return hex;
}

::testing::AssertionResult SignedWith(const WebhookSink::Delivery& d, const std::string& secret,
                                      absl::Time expected_t, absl::Duration max_skew) {
  std::string t, v1;
  for (absl::string_view element : absl::StrSplit(d.signature, ',')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(element, absl::MaxSplits('=', 1));
    if (kv.first == "t") t = kv.second;
    if (kv.first == "v1") v1 = kv.second;
  }
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(t, &seconds) || v1.empty()) {
    return ::testing::AssertionFailure() << "malformed TL-Signature '" << d.signature << "'";
  }
  if (expected_t == absl::InfinitePast()) expected_t = absl::Now();
  const absl::Duration skew = absl::AbsDuration(absl::FromUnixSeconds(seconds) - expected_t);
  if (skew > max_skew) {
    return ::testing::AssertionFailure() << "t is " << skew << " from the expected time";
  }
  const std::string want = HmacSha256Hex(secret, absl::StrCat(t, ".", d.body));
  if (v1 != want) {
    return ::testing::AssertionFailure() << "v1 does not match the secret";
  }
  return ::testing::AssertionSuccess();
}

json WaitForDeliveries(SimClient& client, size_t count) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  json list = json::array();
  for (;;) {
    HttpResult r = client.Control("GET", "/_sim/webhooks");
    if (r.status == 200 && r.json.is_object() && r.json.contains("deliveries")) {
      list = r.json["deliveries"];
      bool all_done = list.size() >= count;
      for (const json& d : list) all_done = all_done && d.value("done", false);
      if (all_done) return list;
    }
    if (absl::Now() > deadline) {
      ADD_FAILURE() << "want " << count << " finished deliveries, have " << list.dump();
      return list;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace tlsim::testing
