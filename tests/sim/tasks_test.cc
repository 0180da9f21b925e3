// End-to-end tests of the task and index endpoints over real HTTP, both
// API versions, with a manual clock.
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "sim/simulator.h"
#include "tests/sim/sim_test_util.h"

namespace tlsim::testing {
namespace {

using nlohmann::json;

class TasksTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart(TestOptions()); }

  void Restart(const SimulatorOptions& options) {
    client_.reset();
    sim_.reset();
    sim_ = StartOrDie(options);
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<SimClient>(sim_->port());
  }

  HttpResult GetTask(const std::string& version, const std::string& id) {
    return client_->Get(absl::StrCat("/", version, "/tasks/", id));
  }

  std::string StatusOf(const std::string& version, const std::string& id) {
    HttpResult r = GetTask(version, id);
    EXPECT_TRUE(IsJsonStatus(r, 200));
    return r.json.value("status", "");
  }

  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<SimClient> client_;
};

TEST_F(TasksTest, BaseUrlHealthAndStop) {
  EXPECT_EQ(sim_->base_url("v1.2"), absl::StrCat("http://127.0.0.1:", sim_->port(), "/v1.2"));
  EXPECT_TRUE(IsJsonStatus(client_->Control("GET", "/_sim/health"), 200));

  SimulatorOptions taken = TestOptions();
  taken.port = sim_->port();
  EXPECT_FALSE(Simulator::Start(taken).ok()) << "port in use";
  SimulatorOptions bad = TestOptions();
  bad.seed_index_id = "not-hex";
  EXPECT_FALSE(Simulator::Start(bad).ok());

  sim_->Stop();
  sim_->Stop();  // idempotent
  EXPECT_FALSE(client_->Control("GET", "/_sim/health").transport_ok);
}

TEST_F(TasksTest, RealClockMovesTasks) {
  SimulatorOptions options = TestOptions();
  options.manual_clock = false;
  options.stage_seconds = 0.05;
  Restart(options);
  const std::string id = CreateUrlTask(*client_, "v1.3", "https://c/real.mp4");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string status;
  while (std::chrono::steady_clock::now() < deadline) {
    status = StatusOf("v1.3", id);
    if (status == "ready") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, "ready");
}

TEST_F(TasksTest, ApiKeyIsRequired) {
  client_->set_api_key("");
  HttpResult r = client_->Get("/v1.3/tasks");
  EXPECT_TRUE(IsApiError(r, 401, "api_key_invalid"));
  EXPECT_EQ(r.Header("X-Api-Version"), "v1.3");
  client_->set_api_key("wrong");
  r = client_->Get("/v1.2/tasks");
  EXPECT_TRUE(IsApiError(r, 401, "api_key_invalid"));
  EXPECT_EQ(r.Header("X-Api-Version"), "v1.2");
}

TEST_F(TasksTest, UnknownPathsAndVersions) {
  EXPECT_TRUE(IsApiError(client_->Get("/v1.1/tasks"), 404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/nothing"), 404, "resource_not_exist"));
  // YouTube uploads are gone in v1.3.
  EXPECT_TRUE(
      IsApiError(client_->PostJson("/v1.3/tasks/external-provider",
                                   {{"index_id", kSeedIndex}, {"url", "https://youtu.be/x"}}),
                 404, "resource_not_exist"));
}

TEST_F(TasksTest, LifecycleFollowsTheManualClock) {
  const std::string id = CreateUrlTask(*client_, "v1.3", "https://cdn.test/a/clip.mp4");
  ASSERT_FALSE(id.empty());
  HttpResult r = GetTask("v1.3", id);
  ASSERT_TRUE(IsJsonStatus(r, 200));
  const std::string created = r.json["created_at"];
  EXPECT_EQ(r.json["status"], "validating");
  EXPECT_EQ(r.json["updated_at"], created);
  EXPECT_EQ(r.json["hls"]["status"], "PROCESSING");
  for (const char* want : {"pending", "queued", "indexing", "ready"}) {
    client_->Advance(2.0);
    EXPECT_EQ(StatusOf("v1.3", id), want);
  }
  r = GetTask("v1.3", id);
  EXPECT_EQ(r.json["hls"]["status"], "COMPLETE");
  EXPECT_NE(r.json["updated_at"], created);
  client_->Advance(100);
  EXPECT_EQ(GetTask("v1.3", id).json["updated_at"], r.json["updated_at"])
      << "ready is terminal; updated_at must not move";
}

TEST_F(TasksTest, BrokenSourcesFailAfterValidating) {
  const std::string id = CreateUrlTask(*client_, "v1.2", "https://cdn.test/broken-upload.mp4");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(StatusOf("v1.2", id), "validating");
  client_->Advance(2.0);
  EXPECT_EQ(StatusOf("v1.2", id), "failed");
}

TEST_F(TasksTest, V13CreateAndRetrieveShapes) {
  HttpResult r = client_->PostForm("/v1.3/tasks",
                                   {{"index_id", kSeedIndex, "", ""},
                                    {"video_url", "https://cdn.test/v/cat.mp4?sig=1", "", ""},
                                    {"enable_video_stream", "False", "", ""},
                                    {"language", "en", "", ""},
                                    {"user_metadata", R"({"k":"v","n":1.5,"b":true})", "", ""}});
  ASSERT_TRUE(IsJsonStatus(r, 201));
  EXPECT_EQ(r.Header("X-Api-Version"), "v1.3");
  ASSERT_TRUE(r.json["_id"].is_string());
  EXPECT_EQ(r.json["video_id"], r.json["_id"]);
  const std::string id = r.json["_id"];
  r = GetTask("v1.3", id);
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(r.json["index_id"], kSeedIndex);
  EXPECT_EQ(r.json["video_id"], id);
  EXPECT_EQ(r.json["system_metadata"]["filename"], "cat.mp4");
  EXPECT_FALSE(r.json.contains("hls")) << "streaming was disabled";
  EXPECT_FALSE(r.json.contains("metadata"));
  EXPECT_FALSE(r.json.contains("estimated_time"));
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
}

TEST_F(TasksTest, V12CreateAndRetrieveShapes) {
  HttpResult r =
      client_->PostForm("/v1.2/tasks", {{"index_id", kSeedIndex, "", ""},
                                        {"video_url", "https://cdn.test/dog.mp4", "", ""},
                                        {"language", "en", "", ""},
                                        {"disable_video_stream", "false", "", ""},
                                        {"transcription_url", "https://cdn.test/dog.srt", "", ""},
                                        {"provide_transcription", "true", "", ""}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(r.Header("X-Api-Version"), "v1.2");
  EXPECT_FALSE(r.json.contains("video_id"));
  const std::string id = r.json["_id"];
  r = GetTask("v1.2", id);
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_FALSE(r.json.contains("video_id")) << "v1.2 shows video_id once ready";
  EXPECT_FALSE(r.json.contains("system_metadata"));
  EXPECT_EQ(r.json["metadata"]["filename"], "dog.mp4");
  EXPECT_TRUE(r.json["estimated_time"].is_string());
  EXPECT_EQ(r.json["hls"]["status"], "PROCESSING");
  client_->Advance(7.0);
  r = GetTask("v1.2", id);
  EXPECT_EQ(r.json["status"], "indexing");
  EXPECT_DOUBLE_EQ(r.json["process"]["percentage"].get<double>(), 50.0);
  client_->Advance(1.0);
  r = GetTask("v1.2", id);
  EXPECT_EQ(r.json["video_id"], id);
  EXPECT_FALSE(r.json.contains("process"));
}

TEST_F(TasksTest, CreateValidation) {
  struct Case {
    const char* name;
    const char* version;
    httplib::MultipartFormDataItems items;
    int status;
    const char* code;
  };
  const std::string idx = kSeedIndex;
  const std::vector<Case> cases = {
      {"v1.2 field on v1.3",
       "v1.3",
       {{"index_id", idx, "", ""},
        {"video_url", "https://c/a.mp4", "", ""},
        {"disable_video_stream", "true", "", ""}},
       400,
       "parameter_unknown"},
      {"v1.3 field on v1.2",
       "v1.2",
       {{"index_id", idx, "", ""},
        {"video_url", "https://c/a.mp4", "", ""},
        {"enable_video_stream", "true", "", ""}},
       400,
       "parameter_unknown"},
      {"user_metadata on v1.2",
       "v1.2",
       {{"index_id", idx, "", ""},
        {"video_url", "https://c/a.mp4", "", ""},
        {"user_metadata", "{}", "", ""}},
       400,
       "parameter_unknown"},
      {"no index",
       "v1.3",
       {{"video_url", "https://c/a.mp4", "", ""}},
       400,
       "parameter_not_provided"},
      {"bad index id",
       "v1.3",
       {{"index_id", "nope", "", ""}, {"video_url", "https://c/a.mp4", "", ""}},
       400,
       "parameter_invalid"},
      {"unknown index",
       "v1.3",
       {{"index_id", "ffffffffffffffffffffffff", "", ""}, {"video_url", "https://c/a.mp4", "", ""}},
       400,
       "resource_not_exist"},
      {"no source", "v1.3", {{"index_id", idx, "", ""}}, 400, "parameter_not_provided"},
      {"both sources",
       "v1.3",
       {{"index_id", idx, "", ""},
        {"video_url", "https://c/a.mp4", "", ""},
        {"video_file", "xyz", "a.mp4", "video/mp4"}},
       400,
       "parameter_invalid"},
      {"youtube",
       "v1.3",
       {{"index_id", idx, "", ""}, {"video_url", "https://www.youtube.com/watch?v=abc", "", ""}},
       400,
       "parameter_invalid"},
      {"youtu.be on v1.2",
       "v1.2",
       {{"index_id", idx, "", ""}, {"video_url", "https://youtu.be/abc", "", ""}},
       400,
       "parameter_invalid"},
      {"not http",
       "v1.3",
       {{"index_id", idx, "", ""}, {"video_url", "ftp://c/a.mp4", "", ""}},
       400,
       "parameter_invalid"},
      {"nested user_metadata",
       "v1.3",
       {{"index_id", idx, "", ""},
        {"video_url", "https://c/a.mp4", "", ""},
        {"user_metadata", R"({"a":{"b":1}})", "", ""}},
       400,
       "parameter_invalid"},
      {"user_metadata not json",
       "v1.3",
       {{"index_id", idx, "", ""},
        {"video_url", "https://c/a.mp4", "", ""},
        {"user_metadata", "{oops", "", ""}},
       400,
       "parameter_invalid"},
      {"bad bool",
       "v1.3",
       {{"index_id", idx, "", ""},
        {"video_url", "https://c/a.mp4", "", ""},
        {"enable_video_stream", "yes", "", ""}},
       400,
       "parameter_invalid"},
      {"repeated field",
       "v1.3",
       {{"index_id", idx, "", ""},
        {"index_id", idx, "", ""},
        {"video_url", "https://c/a.mp4", "", ""}},
       400,
       "parameter_invalid"},
      {"empty file",
       "v1.3",
       {{"index_id", idx, "", ""}, {"video_file", "", "a.mp4", "video/mp4"}},
       400,
       "video_file_broken"},
      {"oversized file",
       "v1.3",
       {{"index_id", idx, "", ""},
        {"video_file", std::string((1 << 20) + 1, 'x'), "big.mp4", "video/mp4"}},
       400,
       "video_filesize_too_large"},
  };
  for (const Case& c : cases) {
    HttpResult r = client_->PostForm(absl::StrCat("/", c.version, "/tasks"), c.items);
    EXPECT_TRUE(IsApiError(r, c.status, c.code)) << c.name;
  }
  // Not multipart at all.
  EXPECT_TRUE(IsApiError(client_->PostJson("/v1.3/tasks", {{"index_id", kSeedIndex}}), 400,
                         "content_type_invalid"));
  // Messages name the culprit.
  HttpResult r =
      client_->PostForm("/v1.3/tasks", {{"index_id", idx, "", ""},
                                        {"video_url", "https://c/a.mp4", "", ""},
                                        {"transcription_url", "https://c/a.srt", "", ""}});
  EXPECT_NE(r.json.value("message", "").find("transcription_url"), std::string::npos) << r.body;
  // PY v0.4.0 sends language on v1.3: accepted.
  EXPECT_TRUE(
      IsJsonStatus(client_->PostForm("/v1.3/tasks", {{"index_id", idx, "", ""},
                                                     {"video_url", "https://c/a.mp4", "", ""},
                                                     {"language", "en", "", ""}}),
                   201));
}

TEST_F(TasksTest, VideoUrlAsFileLikePartIsAccepted) {
  HttpResult r = client_->PostForm("/v1.2/tasks", {{"index_id", kSeedIndex, "", ""},
                                                   {"video_url", "https://cdn.test/z/part.mp4",
                                                    "video_url", "application/octet-stream"}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(GetTask("v1.2", r.json["_id"]).json["metadata"]["filename"], "part.mp4");
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), size));
}

TEST_F(TasksTest, FileUploadIsHashedAndLogged) {
  std::string data(700 * 1024, '\0');
  uint32_t x = 12345;
  for (char& c : data) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  HttpResult r = client_->PostForm("/v1.3/tasks", {{"index_id", kSeedIndex, "", ""},
                                                   {"video_file", data, "movie.mp4", "video/mp4"}});
  ASSERT_TRUE(IsJsonStatus(r, 201));
  EXPECT_EQ(GetTask("v1.3", r.json["_id"]).json["system_metadata"]["filename"], "movie.mp4");

  HttpResult log = client_->Control("GET", "/_sim/requests?path_contains=/tasks");
  ASSERT_TRUE(IsJsonStatus(log, 200));
  const json& entry = log.json["requests"][0];
  EXPECT_EQ(entry["method"], "POST");
  EXPECT_EQ(entry["path"], "/v1.3/tasks");
  EXPECT_EQ(entry["status"], 201);
  EXPECT_EQ(entry["api_key"], kKey);
  EXPECT_EQ(entry["form"]["index_id"], kSeedIndex);
  EXPECT_EQ(entry["files"]["video_file"]["filename"], "movie.mp4");
  EXPECT_EQ(entry["files"]["video_file"]["size"], data.size());
  EXPECT_EQ(entry["files"]["video_file"]["sha256"], Sha256Hex(data));
  EXPECT_NE(entry["content_type"].get<std::string>().find("multipart/form-data"),
            std::string::npos);
}

TEST_F(TasksTest, StreamedChunkedUploadIsHashed) {
  // 3 MiB sent with chunked transfer encoding by a content provider.
  const size_t kSize = 3 << 20;
  std::string expected(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) expected[i] = static_cast<char>((i * 7) ^ (i >> 9));
  SimulatorOptions options = TestOptions();
  options.max_video_file_bytes = 16 << 20;
  Restart(options);
  httplib::MultipartFormDataProviderItems providers = {
      {"video_file",
       [&expected](size_t offset, httplib::DataSink& sink) {
         if (offset >= expected.size()) {
           sink.done();
           return true;
         }
         const size_t n = std::min<size_t>(64 * 1024, expected.size() - offset);
         sink.write(expected.data() + offset, n);
         return true;
       },
       "stream.mp4", "video/mp4"}};
  HttpResult r = client_->PostForm("/v1.3/tasks", {{"index_id", kSeedIndex, "", ""}}, providers);
  ASSERT_TRUE(IsJsonStatus(r, 201));
  HttpResult log = client_->Control("GET", "/_sim/requests");
  const json& file = log.json["requests"][0]["files"]["video_file"];
  EXPECT_EQ(file["size"], kSize);
  EXPECT_EQ(file["sha256"], Sha256Hex(expected));
}

TEST_F(TasksTest, UnknownTaskIs404OnV12And400OnV13) {
  const std::string missing = "abcdefabcdefabcdefabcdef";
  EXPECT_TRUE(IsApiError(GetTask("v1.2", missing), 404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(GetTask("v1.3", missing), 400, "resource_not_exist"));
  HttpResult r = GetTask("v1.3", "not-an-id");
  EXPECT_TRUE(IsApiError(r, 400, "parameter_invalid"));
  EXPECT_NE(r.body.find("task_id"), std::string::npos) << r.body;
  EXPECT_TRUE(IsApiError(client_->Get(absl::StrCat("/v1.3/tasks/", missing, "?x=1")), 400,
                         "parameter_unknown"));
}

TEST_F(TasksTest, ListPaginatesSortsAndFilters) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(CreateUrlTask(*client_, "v1.3", absl::StrCat("https://cdn.test/v", i, ".mp4")));
    client_->Advance(0.5);
  }
  HttpResult r = client_->Get("/v1.3/tasks?page_limit=3");
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(r.json["page_info"],
            json({{"limit_per_page", 3}, {"page", 1}, {"total_page", 3}, {"total_results", 7}}));
  ASSERT_EQ(r.json["data"].size(), 3u);
  EXPECT_EQ(r.json["data"][0]["_id"], ids[6]) << "newest first by default";
  EXPECT_FALSE(r.json["data"][0].contains("hls"));
  EXPECT_TRUE(r.json["data"][0].contains("system_metadata"));

  r = client_->Get("/v1.3/tasks?page_limit=3&page=3&sort_option=asc");
  ASSERT_EQ(r.json["data"].size(), 1u);
  EXPECT_EQ(r.json["data"][0]["_id"], ids[6]);
  r = client_->Get("/v1.3/tasks?page_limit=3&page=4");
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_TRUE(r.json["data"].empty());
  EXPECT_EQ(r.json["page_info"]["total_page"], 3);
  EXPECT_EQ(r.json["page_info"]["page"], 4);

  // Now t=3.5 s: tasks 0..3 (created at 0..1.5 s) are pending, the rest
  // validating.
  r = client_->Get("/v1.3/tasks?status=pending&status=ready");
  EXPECT_EQ(r.json["page_info"]["total_results"], 4) << r.body;
  r = client_->Get("/v1.2/tasks?status=pending,validating");
  EXPECT_EQ(r.json["page_info"]["total_results"], 7) << r.body;
  EXPECT_TRUE(r.json["data"][0].contains("metadata"));
  r = client_->Get("/v1.3/tasks?filename=v3.mp4");
  ASSERT_EQ(r.json["data"].size(), 1u);
  EXPECT_EQ(r.json["data"][0]["_id"], ids[3]);
  const json item = r.json["data"][0];
  r = client_->Get(absl::StrCat("/v1.3/tasks?width=", item["system_metadata"]["width"].get<int>(),
                                "&height=", item["system_metadata"]["height"].get<int>(),
                                "&duration=", item["system_metadata"]["duration"].get<double>()));
  EXPECT_GE(r.json["page_info"]["total_results"].get<int>(), 1) << r.body;
  r = client_->Get(absl::StrCat("/v1.3/tasks?created_at=", item["created_at"].get<std::string>()));
  EXPECT_EQ(r.json["page_info"]["total_results"], 4) << "tasks 3..6: " << r.body;
  r = client_->Get(
      absl::StrCat("/v1.3/tasks?index_id=", kSeedIndex, "&sort_by=updated_at&sort_option=asc"));
  EXPECT_EQ(r.json["page_info"]["total_results"], 7);

  struct Bad {
    const char* query;
    const char* code;
  };
  for (const Bad& bad : {Bad{"/v1.3/tasks?page_limit=51", "parameter_invalid"},
                         Bad{"/v1.3/tasks?page_limit=0", "parameter_invalid"},
                         Bad{"/v1.3/tasks?page=0", "parameter_invalid"},
                         Bad{"/v1.3/tasks?sort_by=name", "parameter_invalid"},
                         Bad{"/v1.3/tasks?sort_option=up", "parameter_invalid"},
                         Bad{"/v1.3/tasks?status=done", "parameter_invalid"},
                         Bad{"/v1.3/tasks?status=ready,failed", "parameter_invalid"},
                         Bad{"/v1.2/tasks?status=ready&status=failed", "parameter_invalid"},
                         Bad{"/v1.3/tasks?created_at=yesterday", "parameter_invalid"},
                         Bad{"/v1.3/tasks?colour=red", "parameter_unknown"},
                         Bad{"/v1.3/tasks?_id=abc", "parameter_unknown"}}) {
    EXPECT_TRUE(IsApiError(client_->Get(bad.query), 400, bad.code)) << bad.query;
  }
}

TEST_F(TasksTest, DeleteRules) {
  const std::string id = CreateUrlTask(*client_, "v1.3", "https://cdn.test/d.mp4");
  HttpResult r = client_->Delete(absl::StrCat("/v1.3/tasks/", id));
  EXPECT_TRUE(IsApiError(r, 400, "task_cannot_be_deleted")) << "still validating";
  client_->Advance(8.0);
  r = client_->Delete(absl::StrCat("/v1.3/tasks/", id));
  EXPECT_TRUE(IsApiError(r, 400, "task_cannot_be_deleted"));
  EXPECT_NE(r.body.find("delete its video first"), std::string::npos) << r.body;

  const std::string video_path = absl::StrCat("/v1.3/indexes/", kSeedIndex, "/videos/", id);
  r = client_->Delete(video_path);
  EXPECT_EQ(r.status, 204) << r.Describe();
  EXPECT_TRUE(IsApiError(client_->Delete(video_path), 400, "resource_not_exist"));
  r = client_->Delete(absl::StrCat("/v1.3/tasks/", id));
  EXPECT_EQ(r.status, 204) << r.Describe();
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.Header("X-Api-Version"), "v1.3");
  EXPECT_FALSE(r.HasHeader("Content-Type"));
  EXPECT_TRUE(IsApiError(GetTask("v1.3", id), 400, "resource_not_exist"));
  EXPECT_TRUE(
      IsApiError(client_->Delete(absl::StrCat("/v1.2/tasks/", id)), 404, "resource_not_exist"));

  // v1.2 answers 200 {} and a failed task needs no video deletion.
  const std::string failed = CreateUrlTask(*client_, "v1.2", "https://c/broken.mp4");
  client_->Advance(2.0);
  r = client_->Delete(absl::StrCat("/v1.2/tasks/", failed));
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(r.json, json::object());
}

TEST_F(TasksTest, ExternalProviderOnV12) {
  HttpResult r = client_->PostJson(
      "/v1.2/tasks/external-provider",
      {{"index_id", kSeedIndex}, {"url", "https://www.youtube.com/watch?v=dQw4w9"}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_TRUE(r.HasHeader("X-Ratelimit-Remaining"));
  EXPECT_EQ(GetTask("v1.2", r.json["_id"]).json["metadata"]["filename"], "dQw4w9");
  EXPECT_TRUE(
      IsApiError(client_->PostJson("/v1.2/tasks/external-provider",
                                   {{"index_id", kSeedIndex}, {"url", "https://cdn.test/a.mp4"}}),
                 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(
      client_->PostJson("/v1.2/tasks/external-provider",
                        {{"index_id", kSeedIndex}, {"url", "https://youtu.be/x"}, {"extra", 1}}),
      400, "parameter_unknown"));
  EXPECT_TRUE(
      IsApiError(client_->PostRaw("/v1.2/tasks/external-provider", "{oops", "application/json"),
                 400, "parameter_invalid"));
}

TEST_F(TasksTest, StatusCounts) {
  CreateUrlTask(*client_, "v1.3", "https://c/1.mp4");
  CreateUrlTask(*client_, "v1.3", "https://c/broken.mp4");
  client_->Advance(2.0);
  CreateUrlTask(*client_, "v1.3", "https://c/2.mp4");
  HttpResult r = client_->Get(absl::StrCat("/v1.2/tasks/status?index_id=", kSeedIndex));
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(r.json, json({{"index_id", kSeedIndex},
                          {"ready", 0},
                          {"validating", 1},
                          {"pending", 1},
                          {"queued", 0},
                          {"indexing", 0},
                          {"failed", 1},
                          {"total_result", 3}}));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/tasks/status"), 400, "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/tasks/status?index_id=ffffffffffffffffffffffff"), 400,
                         "resource_not_exist"));
}

TEST_F(TasksTest, CreateIndexes) {
  HttpResult r = client_->PostJson(
      "/v1.3/indexes",
      {{"index_name", "mine"},
       {"models", json::array({json{{"model_name", "marengo2.7"},
                                    {"model_options", json::array({"visual"})}}})}});
  ASSERT_TRUE(IsJsonStatus(r, 201));
  const std::string id = r.json["_id"];
  EXPECT_TRUE(IsApiError(client_->PostJson("/v1.2/indexes", {{"index_name", "mine"}}), 409,
                         "index_name_already_exists"));
  EXPECT_TRUE(IsApiError(
      client_->PostJson("/v1.3/indexes", {{"index_name", "x"}, {"engines", json::array()}}), 400,
      "parameter_unknown"));
  EXPECT_TRUE(IsApiError(client_->PostJson("/v1.3/indexes", json::object()), 400,
                         "parameter_not_provided"));
  EXPECT_FALSE(CreateUrlTask(*client_, "v1.3", "https://c/x.mp4", id).empty());
  // Control API fixture with a chosen id.
  r = client_->Control("POST", "/_sim/indexes",
                       {{"index_id", "00000000000000000000abcd"}, {"index_name", "fixed"}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(r.json["_id"], "00000000000000000000abcd");
}

TEST_F(TasksTest, RateLimitHeadersAnd429) {
  SimulatorOptions options = TestOptions();
  options.create_rate_limit = 3;
  options.rate_window_seconds = 60;
  Restart(options);
  for (int i = 0; i < 3; ++i) {
    HttpResult r = client_->PostForm("/v1.3/tasks", {{"index_id", kSeedIndex, "", ""},
                                                     {"video_url", "https://c/r.mp4", "", ""}});
    ASSERT_TRUE(IsJsonStatus(r, 201));
    EXPECT_EQ(r.Header("X-Ratelimit-Limit"), "3");
    EXPECT_EQ(r.Header("X-Ratelimit-Remaining"), std::to_string(2 - i));
    EXPECT_EQ(r.Header("X-Ratelimit-Used"), std::to_string(i + 1));
    EXPECT_FALSE(r.Header("X-Ratelimit-Reset").empty());
  }
  // The window is full, so this is refused before validation.
  HttpResult r = client_->PostForm("/v1.2/tasks", {{"index_id", kSeedIndex, "", ""}});
  EXPECT_TRUE(IsApiError(r, 429, "too_many_requests"));
  EXPECT_EQ(r.Header("Retry-After"), "60");
  EXPECT_EQ(r.Header("X-Ratelimit-Remaining"), "0");
  EXPECT_NE(r.json["message"].get<std::string>().find("rate limit (3)"), std::string::npos);
  // Reads are not limited.
  EXPECT_TRUE(IsJsonStatus(client_->Get("/v1.3/tasks"), 200));
  client_->Advance(30);
  r = client_->PostForm("/v1.3/tasks", {{"index_id", kSeedIndex, "", ""}});
  EXPECT_EQ(r.Header("Retry-After"), "30");
  client_->Advance(30);
  r = client_->PostForm(
      "/v1.3/tasks", {{"index_id", kSeedIndex, "", ""}, {"video_url", "https://c/r.mp4", "", ""}});
  EXPECT_TRUE(IsJsonStatus(r, 201)) << "a new window opened";

  options.send_retry_after = false;
  options.create_rate_limit = 0;
  Restart(options);
  r = client_->PostForm("/v1.3/tasks", {{"index_id", kSeedIndex, "", ""}});
  EXPECT_TRUE(IsApiError(r, 429, "too_many_requests"));
  EXPECT_FALSE(r.HasHeader("Retry-After"));
}

TEST_F(TasksTest, RateLimitIsPerKey) {
  SimulatorOptions options = TestOptions();
  options.create_rate_limit = 1;
  options.api_keys = {"k1", "k2"};
  Restart(options);
  for (const char* key : {"k1", "k2"}) {
    client_->set_api_key(key);
    EXPECT_TRUE(
        IsJsonStatus(client_->PostForm("/v1.3/tasks", {{"index_id", kSeedIndex, "", ""},
                                                       {"video_url", "https://c/r.mp4", "", ""}}),
                     201))
        << key;
  }
  EXPECT_TRUE(IsApiError(client_->PostForm("/v1.3/tasks", {{"index_id", kSeedIndex, "", ""}}), 429,
                         "too_many_requests"));
}

TEST_F(TasksTest, RequestLogAndControl) {
  const std::string id = CreateUrlTask(*client_, "v1.3", "https://c/l.mp4");
  client_->PostJson("/v1.2/tasks/external-provider",
                    {{"index_id", kSeedIndex}, {"url", "https://youtu.be/abc"}});
  client_->Get("/v1.3/tasks?status=ready&status=failed&page=2");
  client_->Control("GET", "/_sim/health");
  HttpResult log = client_->Control("GET", "/_sim/requests");
  ASSERT_TRUE(IsJsonStatus(log, 200));
  const json& reqs = log.json["requests"];
  ASSERT_EQ(reqs.size(), 3u) << "control requests are not logged: " << log.body;
  EXPECT_LT(reqs[0]["seq"].get<int>(), reqs[1]["seq"].get<int>());
  EXPECT_EQ(reqs[1]["json"]["url"], "https://youtu.be/abc");
  EXPECT_EQ(reqs[1]["status"], 200);
  EXPECT_EQ(reqs[2]["query"]["status"], json({"ready", "failed"}));
  EXPECT_EQ(reqs[2]["query"]["page"], json({"2"}));
  EXPECT_TRUE(reqs[2]["json"].is_null());
  log = client_->Control("GET", "/_sim/requests?path_contains=external");
  EXPECT_EQ(log.json["requests"].size(), 1u);
  EXPECT_TRUE(IsJsonStatus(client_->Control("DELETE", "/_sim/requests"), 200));
  EXPECT_TRUE(client_->Control("GET", "/_sim/requests").json["requests"].empty());

  // Forcing a status.
  HttpResult r =
      client_->Control("POST", absl::StrCat("/_sim/tasks/", id, "/status"), {{"status", "failed"}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(StatusOf("v1.3", id), "failed");
  client_->Advance(100);
  EXPECT_EQ(StatusOf("v1.3", id), "failed");
  EXPECT_EQ(
      client_->Control("POST", "/_sim/tasks/ffffffffffffffffffffffff/status", {{"status", "ready"}})
          .status,
      404);
  EXPECT_EQ(
      client_->Control("POST", absl::StrCat("/_sim/tasks/", id, "/status"), {{"status", "done"}})
          .status,
      400);
  // Clock and reset.
  r = client_->Control("POST", "/_sim/clock/advance", {{"seconds", 1.5}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_TRUE(r.json["now"].is_string());
  EXPECT_EQ(client_->Control("POST", "/_sim/clock/advance", {{"seconds", -1}}).status, 400);
  EXPECT_TRUE(IsJsonStatus(client_->Control("POST", "/_sim/reset"), 200));
  EXPECT_TRUE(IsApiError(GetTask("v1.2", id), 404, "resource_not_exist"));
  EXPECT_EQ(client_->Control("GET", "/_sim/nothing").status, 404);
}

TEST_F(TasksTest, GarbageNeverCrashes) {
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"", "application/json"},
      {"[1,2", "application/json"},
      {"null", "application/json"},
      {"\xff\xfe\x00", "application/json"},
      {"--x\r\nbroken", "multipart/form-data; boundary=x"},
      {"a=b", "application/x-www-form-urlencoded"},
  };
  for (const char* path : {"/v1.3/tasks", "/v1.2/tasks/external-provider", "/v1.3/indexes",
                           "/v1.3/tasks/transfers/import/0123456789abcdef89abcdef", "/_sim/faults",
                           "/_sim/indexes", "/_sim/integrations", "/_sim/clock/advance"}) {
    for (const auto& [body, type] : bodies) {
      HttpResult r = client_->PostRaw(path, body, type);
      EXPECT_TRUE(r.transport_ok) << path;
      EXPECT_GE(r.status, 400) << path << " " << body;
      EXPECT_LT(r.status, 500) << path << " " << body;
    }
  }
  EXPECT_TRUE(IsJsonStatus(client_->Control("GET", "/_sim/health"), 200));
}

TEST_F(TasksTest, ConcurrentClients) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, t, &failures] {
      SimClient client(sim_->port());
      for (int i = 0; i < 15; ++i) {
        HttpResult r = client.PostForm(
            "/v1.3/tasks", {{"index_id", kSeedIndex, "", ""},
                            {"video_url", absl::StrCat("https://c/", t, "-", i, ".mp4"), "", ""}});
        if (r.status != 201) ++failures;
        if (client.Get("/v1.3/tasks?page_limit=50").status != 200) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  HttpResult r = client_->Get("/v1.3/tasks");
  EXPECT_EQ(r.json["page_info"]["total_results"], 120);
}

}  // namespace
}  // namespace tlsim::testing
