// Fault injection through POST /_sim/faults, one test per kind, checked
// from the client's side of the socket.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "sim/simulator.h"
#include "tests/sim/sim_test_util.h"

namespace tlsim::testing {
namespace {

using nlohmann::json;

constexpr char kTaskPathRegex[] = "^/v1\\.[23]/tasks/[0-9a-f]+$";

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = StartOrDie(TestOptions());
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<SimClient>(sim_->port());
    task_id_ = CreateUrlTask(*client_, "v1.3", "https://cdn.test/f.mp4");
    ASSERT_FALSE(task_id_.empty());
    task_path_ = absl::StrCat("/v1.3/tasks/", task_id_);
  }

  int LastLoggedStatus() {
    HttpResult log = client_->Control("GET", "/_sim/requests");
    EXPECT_TRUE(IsJsonStatus(log, 200));
    if (log.json["requests"].empty()) return -1;
    return log.json["requests"].back()["status"].get<int>();
  }

  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<SimClient> client_;
  std::string task_id_;
  std::string task_path_;
};

TEST_F(FaultsTest, StatusFaultAppliesCountTimesInOrder) {
  client_->AddFault({{"method", "GET"},
                     {"path_regex", kTaskPathRegex},
                     {"kind", "status"},
                     {"status", 503},
                     {"count", 2}});
  client_->AddFault({{"method", "*"},
                     {"path_regex", kTaskPathRegex},
                     {"kind", "status"},
                     {"status", 502},
                     {"count", 1}});
  EXPECT_TRUE(IsApiError(client_->Get(task_path_), 503, "internal_error"));
  EXPECT_TRUE(IsApiError(client_->Get(task_path_), 503, "internal_error"));
  EXPECT_EQ(LastLoggedStatus(), 503) << "faulted requests are logged";
  EXPECT_TRUE(IsApiError(client_->Get(task_path_), 502, "internal_error"));
  EXPECT_TRUE(IsJsonStatus(client_->Get(task_path_), 200));
  // Other paths and methods are untouched.
  client_->AddFault(
      {{"method", "DELETE"}, {"path_regex", kTaskPathRegex}, {"kind", "status"}, {"status", 500}});
  EXPECT_TRUE(IsJsonStatus(client_->Get(task_path_), 200));
  EXPECT_TRUE(IsJsonStatus(client_->Get("/v1.3/tasks"), 200));
}

TEST_F(FaultsTest, StatusFaultSendsACustomBodyAndHeaders) {
  const std::string body = R"({"code":"odd_code","message":"echo","docs_url":"https://x/?k=1"})";
  client_->AddFault({{"method", "GET"},
                     {"path_regex", kTaskPathRegex},
                     {"kind", "status"},
                     {"status", 400},
                     {"body", body},
                     {"headers", {{"X-Echo", "hello"}}}});
  HttpResult r = client_->Get(task_path_);
  EXPECT_TRUE(IsApiError(r, 400, "odd_code"));
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.Header("X-Echo"), "hello");
  EXPECT_TRUE(IsJsonStatus(client_->Get(task_path_), 200));
  // Only with kind status, and only strings.
  EXPECT_TRUE(IsJsonStatus(client_->Control("POST", "/_sim/faults", R"({"kind":"reset","body":"x"})"), 400));
  EXPECT_TRUE(IsJsonStatus(client_->Control("POST", "/_sim/faults", R"({"kind":"status","headers":{"a":1}})"), 400));
}

TEST_F(FaultsTest, UnlimitedUntilCleared) {
  client_->AddFault(
      {{"kind", "status"}, {"status", 500}, {"count", -1}, {"retry_after_seconds", 3}});
  for (int i = 0; i < 3; ++i) {
    HttpResult r = client_->Get("/v1.2/tasks");
    EXPECT_TRUE(IsApiError(r, 500, "internal_error"));
    EXPECT_EQ(r.Header("Retry-After"), "3");
    EXPECT_EQ(r.Header("X-Api-Version"), "v1.2");
  }
  HttpResult listed = client_->Control("GET", "/_sim/faults");
  EXPECT_EQ(listed.json["faults"].size(), 1u) << listed.body;
  EXPECT_TRUE(IsJsonStatus(client_->Control("DELETE", "/_sim/faults"), 200));
  EXPECT_TRUE(IsJsonStatus(client_->Get("/v1.2/tasks"), 200));
  // Control endpoints are never faulted.
  client_->AddFault({{"kind", "status"}, {"count", -1}});
  EXPECT_TRUE(IsJsonStatus(client_->Control("GET", "/_sim/health"), 200));
  HttpResult added = client_->Control("POST", "/_sim/faults", {{"kind", "reset"}});
  ASSERT_TRUE(IsJsonStatus(added, 200));
  EXPECT_EQ(
      client_->Control("DELETE", absl::StrCat("/_sim/faults/", added.json["id"].get<int>())).status,
      200);
}

TEST_F(FaultsTest, LatencyDelaysThenServes) {
  client_->AddFault({{"path_regex", kTaskPathRegex}, {"kind", "latency"}, {"latency_ms", 300}});
  const auto start = std::chrono::steady_clock::now();
  HttpResult r = client_->Get(task_path_);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(IsJsonStatus(r, 200));
  // A lower bound only: a sleep cannot end early, so this cannot flake.
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
}

TEST_F(FaultsTest, LateAnswerServesFirstThenAnswers) {
  client_->AddFault({{"method", "POST"}, {"path_regex", "^/v1\\.3/tasks$"}, {"kind", "late_answer"},
                     {"latency_ms", 2000}});
  // A second client watches the task list while the create's answer waits.
  SimClient watcher(sim_->port());
  HttpResult before = watcher.Get("/v1.3/tasks");
  ASSERT_TRUE(IsJsonStatus(before, 200));
  const int64_t tasks_before = before.json["page_info"]["total_results"].get<int64_t>();
  const auto start = std::chrono::steady_clock::now();
  std::string created;
  std::thread creator([&] { created = CreateUrlTask(*client_, "v1.3", "https://cdn.test/late.mp4"); });
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    HttpResult now = watcher.Get("/v1.3/tasks");
    seen = IsJsonStatus(now, 200) && now.json["page_info"]["total_results"].get<int64_t>() == tasks_before + 1;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto seen_after = std::chrono::steady_clock::now() - start;
  creator.join();
  const auto answered_after = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(seen);
  EXPECT_LT(seen_after, std::chrono::milliseconds(2000)) << "the task exists before the create is answered";
  EXPECT_GE(answered_after, std::chrono::milliseconds(2000));
  EXPECT_FALSE(created.empty());
}

TEST_F(FaultsTest, ResetClosesWithoutAnswer) {
  client_->AddFault({{"path_regex", kTaskPathRegex}, {"kind", "reset"}});
  HttpResult r = client_->Get(task_path_);
  EXPECT_FALSE(r.transport_ok) << r.Describe();
  EXPECT_EQ(LastLoggedStatus(), 0);
  EXPECT_TRUE(IsJsonStatus(client_->Get(task_path_), 200)) << "one-shot";
  // Also mid-upload: the body is not read.
  client_->AddFault({{"method", "POST"}, {"kind", "reset"}});
  r = client_->PostForm("/v1.3/tasks",
                        {{"index_id", kSeedIndex, "", ""},
                         {"video_file", std::string(512 * 1024, 'v'), "a.mp4", "video/mp4"}});
  EXPECT_FALSE(r.transport_ok) << r.Describe();
}

TEST_F(FaultsTest, MalformedJson) {
  client_->AddFault({{"path_regex", kTaskPathRegex}, {"kind", "malformed_json"}});
  HttpResult r = client_->Get(task_path_);
  ASSERT_TRUE(r.transport_ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_TRUE(r.json.is_discarded()) << r.body;
}

TEST_F(FaultsTest, TruncatedJsonBreaksTheTransfer) {
  client_->AddFault({{"path_regex", kTaskPathRegex}, {"kind", "truncated_json"}});
  // httplib's client reports the short body as a read error.
  HttpResult r = client_->Get(task_path_);
  EXPECT_FALSE(r.transport_ok) << r.Describe();
  // Seen raw: a Content-Length larger than the bytes that arrive.
  client_->AddFault({{"path_regex", kTaskPathRegex}, {"kind", "truncated_json"}});
  httplib::Client cli("127.0.0.1", sim_->port());
  std::string received;
  size_t declared = 0;
  auto res = cli.Get(
      task_path_, {{"x-api-key", kKey}},
      [&](const httplib::Response& response) {
        declared = std::stoul(response.get_header_value("Content-Length"));
        return true;
      },
      [&](const char* data, size_t size) {
        received.append(data, size);
        return true;
      });
  EXPECT_FALSE(res);
  EXPECT_GT(declared, received.size());
  EXPECT_FALSE(received.empty());
  EXPECT_TRUE(json::parse(received, nullptr, false).is_discarded());
}

TEST_F(FaultsTest, RateLimitBurst) {
  client_->AddFault({{"method", "POST"},
                     {"path_regex", "^/v1\\.[23]/tasks$"},
                     {"kind", "rate_limit"},
                     {"retry_after_seconds", 7},
                     {"count", 2}});
  for (int i = 0; i < 2; ++i) {
    HttpResult r = client_->PostForm("/v1.3/tasks", {{"index_id", kSeedIndex, "", ""}});
    EXPECT_TRUE(IsApiError(r, 429, "too_many_requests"));
    EXPECT_EQ(r.Header("Retry-After"), "7");
    EXPECT_EQ(r.Header("X-Ratelimit-Remaining"), "0");
    EXPECT_NE(r.json["message"].get<std::string>().find("retry after 7 seconds"), std::string::npos)
        << r.body;
  }
  EXPECT_FALSE(CreateUrlTask(*client_, "v1.3", "https://c/after.mp4").empty());
  client_->AddFault({{"kind", "rate_limit"}, {"send_retry_after", false}});
  HttpResult r = client_->Get("/v1.3/tasks");
  EXPECT_EQ(r.status, 429);
  EXPECT_FALSE(r.HasHeader("Retry-After"));
}

TEST_F(FaultsTest, WrongTypes) {
  client_->AddFault({{"path_regex", kTaskPathRegex}, {"kind", "wrong_type"}});
  HttpResult r = client_->Get(task_path_);
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_TRUE(r.json["_id"].is_number());
  EXPECT_TRUE(r.json["status"].is_array());
}

TEST_F(FaultsTest, BadFaultSpecsAreRejected) {
  for (const json& spec :
       {json{{"kind", "explode"}}, json{{"kind", "status"}, {"path_regex", "(["}},
        json{{"kind", "status"}, {"status", 42}}, json{{"kind", "status"}, {"count", 0}},
        json{{"path_regex", "x"}}, json::array()}) {
    HttpResult r = client_->Control("POST", "/_sim/faults", spec);
    EXPECT_TRUE(IsApiError(r, 400, "parameter_invalid")) << spec.dump();
  }
}

}  // namespace
}  // namespace tlsim::testing
