// Cloud-to-cloud imports from the seeded S3 integration, on both versions.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/simulator.h"
#include "tests/sim/sim_test_util.h"

namespace tlsim::testing {
namespace {

using nlohmann::json;

class ImportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = StartOrDie(TestOptions());
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<SimClient>(sim_->port());
  }

  std::string ImportPath(const std::string& version,
                         const std::string& integration = kSeedIntegration) {
    return absl::StrCat("/", version, "/tasks/transfers/import/", integration);
  }

  HttpResult Status(const std::string& version, const std::string& integration = kSeedIntegration) {
    return client_->Get(
        absl::StrCat(ImportPath(version, integration), "/status?index_id=", kSeedIndex));
  }

  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<SimClient> client_;
};

TEST_F(ImportsTest, ImportRunsToCompletion) {
  HttpResult r = client_->PostJson(ImportPath("v1.3"),
                                   {{"index_id", kSeedIndex}, {"user_metadata", {{"batch", 5}}}});
  ASSERT_TRUE(IsJsonStatus(r, 201));
  ASSERT_EQ(r.json["videos"].size(), 2u) << r.body;
  EXPECT_EQ(r.json["videos"][0]["filename"], "clip-a.mp4");
  EXPECT_EQ(r.json["videos"][1]["filename"], "clip-b.mp4");
  EXPECT_EQ(r.json["failed_files"],
            json::array({{{"filename", "broken-c.mp4"}, {"error_message", "video_file_broken"}}}));
  const std::string video = r.json["videos"][0]["video_id"];
  // The video id doubles as a task id.
  HttpResult task = client_->Get(absl::StrCat("/v1.3/tasks/", video));
  ASSERT_TRUE(IsJsonStatus(task, 200));
  EXPECT_EQ(task.json["system_metadata"]["filename"], "clip-a.mp4");

  r = client_->PostJson(ImportPath("v1.2"), {{"index_id", kSeedIndex}});
  EXPECT_TRUE(IsApiError(r, 409, "import_in_progress"));

  r = Status("v1.3");
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_TRUE(r.json["not_imported"].empty());
  ASSERT_EQ(r.json["validating"].size(), 2u) << r.body;
  EXPECT_EQ(r.json["validating"][0]["video_id"], video);
  EXPECT_TRUE(r.json["validating"][0]["created_at"].is_string());
  ASSERT_EQ(r.json["failed"].size(), 1u);
  EXPECT_EQ(r.json["failed"][0]["filename"], "broken-c.mp4");
  EXPECT_FALSE(r.json["failed"][0].contains("video_id"));
  for (const char* group : {"pending", "queued", "indexing", "ready"}) {
    EXPECT_TRUE(r.json[group].empty()) << group;
  }

  r = client_->Get(absl::StrCat(ImportPath("v1.3"), "/logs"));
  ASSERT_TRUE(IsJsonStatus(r, 200));
  ASSERT_EQ(r.json["data"].size(), 1u);
  EXPECT_TRUE(r.json["data"][0]["ended_at"].is_null());
  EXPECT_EQ(r.json["data"][0]["index_name"], "sim-index");

  client_->Advance(8.0);
  r = Status("v1.2");
  EXPECT_EQ(r.json["ready"].size(), 2u) << r.body;
  r = client_->Get(absl::StrCat(ImportPath("v1.2"), "/logs"));
  const json& log = r.json["data"][0];
  EXPECT_TRUE(log["ended_at"].is_string()) << r.body;
  EXPECT_EQ(log["video_status"], json({{"ready", 2},
                                       {"validating", 0},
                                       {"queued", 0},
                                       {"pending", 0},
                                       {"indexing", 0},
                                       {"failed", 1}}));
  EXPECT_EQ(log["failed_files"].size(), 1u);
}

TEST_F(ImportsTest, IncrementalRetryAndFullReimport) {
  ASSERT_TRUE(IsJsonStatus(client_->PostJson(ImportPath("v1.3"), {{"index_id", kSeedIndex}}), 201));
  client_->Advance(8.0);
  // Incremental: nothing new, the broken file is not retried.
  HttpResult r = client_->PostJson(ImportPath("v1.3"), {{"index_id", kSeedIndex}});
  ASSERT_TRUE(IsJsonStatus(r, 201));
  EXPECT_TRUE(r.json["videos"].empty());
  EXPECT_TRUE(r.json["failed_files"].empty());
  // retry_failed: the broken file is tried (and fails) again.
  r = client_->PostJson(ImportPath("v1.3"), {{"index_id", kSeedIndex}, {"retry_failed", true}});
  EXPECT_EQ(r.json["failed_files"].size(), 1u) << r.body;
  EXPECT_TRUE(r.json["videos"].empty());
  // Not incremental: everything again.
  r = client_->PostJson(ImportPath("v1.3"),
                        {{"index_id", kSeedIndex}, {"incremental_import", false}});
  EXPECT_EQ(r.json["videos"].size(), 2u) << r.body;
  r = client_->Get(absl::StrCat(ImportPath("v1.3"), "/logs"));
  EXPECT_EQ(r.json["data"].size(), 4u);
}

TEST_F(ImportsTest, NewFilesShowAsNotImported) {
  HttpResult r = client_->Control(
      "POST", "/_sim/integrations",
      {{"integration_id", "aaaaaaaaaaaaaaaaaaaaaaaa"},
       {"files", {{{"filename", "one.mp4"}}, {{"filename", "two.mp4"}, {"broken", false}}}}});
  ASSERT_TRUE(IsJsonStatus(r, 200));
  r = Status("v1.3", "aaaaaaaaaaaaaaaaaaaaaaaa");
  ASSERT_TRUE(IsJsonStatus(r, 200));
  EXPECT_EQ(r.json["not_imported"], json({"one.mp4", "two.mp4"}));
  r = client_->Get(absl::StrCat(ImportPath("v1.3", "aaaaaaaaaaaaaaaaaaaaaaaa"), "/logs"));
  EXPECT_TRUE(r.json["data"].empty());
}

TEST_F(ImportsTest, Validation) {
  EXPECT_TRUE(IsApiError(
      client_->PostJson(ImportPath("v1.3", "ffffffffffffffffffffffff"), {{"index_id", kSeedIndex}}),
      404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->PostJson(ImportPath("v1.3", "nope"), {{"index_id", kSeedIndex}}),
                         400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostJson(ImportPath("v1.3"), json::object()), 400,
                         "parameter_not_provided"));
  EXPECT_TRUE(
      IsApiError(client_->PostJson(ImportPath("v1.3"), {{"index_id", "ffffffffffffffffffffffff"}}),
                 400, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->PostJson(ImportPath("v1.3"), {{"index_id", kSeedIndex},
                                                                {"incremental_import", "yes"}}),
                         400, "parameter_invalid"));
  EXPECT_TRUE(
      IsApiError(client_->PostJson(ImportPath("v1.3"), {{"index_id", kSeedIndex}, {"bucket", "x"}}),
                 400, "parameter_unknown"));
  EXPECT_TRUE(IsApiError(client_->Get(absl::StrCat(ImportPath("v1.3"), "/status")), 400,
                         "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(
      client_->Get(absl::StrCat(ImportPath("v1.3", "ffffffffffffffffffffffff"), "/logs")), 404,
      "resource_not_exist"));
}

}  // namespace
}  // namespace tlsim::testing
