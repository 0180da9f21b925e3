#include "tests/sim/sim_test_util.h"

#include <utility>

#include "absl/strings/str_cat.h"

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

}  // namespace tlsim::testing
