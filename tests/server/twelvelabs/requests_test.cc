#include "server/twelvelabs/requests.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/match.h"
#include "google/protobuf/util/time_util.h"
#include <nlohmann/json.hpp>

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

std::map<std::string, std::string> Form(const RestCall& call) {
  std::map<std::string, std::string> out;
  for (const auto& p : call.form) out[p.name] = p.value;
  return out;
}

TEST(CreateUrlTaskCall, V12SendsLanguageAndDisableVideoStream) {
  gw::CreateUrlTaskRequest req;
  req.set_index_id("0123456789abcdef01234567");
  req.set_video_url("https://cdn.example.com/a.mp4");
  req.set_language("en");
  req.set_enable_video_stream(false);
  (*req.mutable_user_metadata()->mutable_fields())["k"].set_string_value("v");
  auto call = CreateUrlTaskCall(ApiVersion::kV1_2, req);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->method, "POST");
  EXPECT_EQ(call->path, "/tasks");
  auto form = Form(*call);
  EXPECT_EQ(form["index_id"], "0123456789abcdef01234567");
  EXPECT_EQ(form["video_url"], "https://cdn.example.com/a.mp4");
  EXPECT_EQ(form["language"], "en");
  EXPECT_EQ(form["disable_video_stream"], "true");
  EXPECT_EQ(form.count("enable_video_stream"), 0u);
  EXPECT_EQ(form.count("user_metadata"), 0u);  // v1.2 has no such field
}

TEST(CreateUrlTaskCall, V13SendsEnableVideoStreamAndUserMetadata) {
  gw::CreateUrlTaskRequest req;
  req.set_index_id("0123456789abcdef01234567");
  req.set_video_url("https://cdn.example.com/a.mp4");
  req.set_language("en");
  req.set_enable_video_stream(true);
  (*req.mutable_user_metadata()->mutable_fields())["batch"].set_number_value(5);
  auto call = CreateUrlTaskCall(ApiVersion::kV1_3, req);
  ASSERT_TRUE(call.ok()) << call.status();
  auto form = Form(*call);
  EXPECT_EQ(form["enable_video_stream"], "true");
  EXPECT_EQ(form.count("disable_video_stream"), 0u);
  EXPECT_EQ(form.count("language"), 0u);
  EXPECT_EQ(nlohmann::json::parse(form["user_metadata"]), nlohmann::json({{"batch", 5}}));
}

TEST(CreateUrlTaskCall, UnsetStreamingFlagIsLeftToTheApiDefault) {
  gw::CreateUrlTaskRequest req;
  req.set_index_id("0123456789abcdef01234567");
  req.set_video_url("https://cdn.example.com/a.mp4");
  for (ApiVersion v : {ApiVersion::kV1_2, ApiVersion::kV1_3}) {
    auto form = Form(*CreateUrlTaskCall(v, req));
    EXPECT_EQ(form.count("enable_video_stream") + form.count("disable_video_stream"), 0u);
  }
}

TEST(CreateExternalProviderCall, OnlyV12) {
  gw::CreateExternalProviderTaskRequest req;
  req.set_index_id("0123456789abcdef01234567");
  req.set_url("https://www.youtube.com/watch?v=abc");
  auto v12 = CreateExternalProviderCall(ApiVersion::kV1_2, req);
  ASSERT_TRUE(v12.ok());
  EXPECT_EQ(v12->path, "/tasks/external-provider");
  EXPECT_EQ(nlohmann::json::parse(v12->json_body),
            nlohmann::json({{"index_id", "0123456789abcdef01234567"}, {"url", "https://www.youtube.com/watch?v=abc"}}));
  auto v13 = CreateExternalProviderCall(ApiVersion::kV1_3, req);
  ASSERT_FALSE(v13.ok());
  EXPECT_EQ(v13.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(v13.status().message(), "v1.2")) << v13.status();
}

TEST(ListTasksCall, FiltersAndStatusStylePerVersion) {
  gw::ListTasksRequest req;
  req.set_index_id("0123456789abcdef01234567");
  req.add_statuses(gw::TASK_STATUS_READY);
  req.add_statuses(gw::TASK_STATUS_VALIDATING);
  req.set_filename("a b.mp4");
  req.set_duration_seconds(12.5);
  req.set_width(640);
  req.set_height(360);
  *req.mutable_create_time() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1642166422);
  req.set_sort_by(gw::TASK_SORT_FIELD_UPDATE_TIME);
  req.set_sort_order(gw::SORT_ORDER_ASCENDING);
  RestCall v13 = ListTasksCall(ApiVersion::kV1_3, req, 2, 25);
  EXPECT_EQ(v13.path,
            "/tasks?page=2&page_limit=25&sort_by=updated_at&sort_option=asc&index_id=0123456789abcdef01234567"
            "&status=ready&status=validating&filename=a%20b.mp4&duration=12.5&width=640&height=360"
            "&created_at=2022-01-14T13%3A20%3A22.000Z");
  RestCall v12 = ListTasksCall(ApiVersion::kV1_2, req, 1, 10);
  EXPECT_TRUE(absl::StrContains(v12.path, "&status=ready%2Cvalidating&")) << v12.path;
}

TEST(OtherCalls, PathsAndBodies) {
  EXPECT_EQ(GetTaskCall("abc").path, "/tasks/abc");
  EXPECT_EQ(DeleteTaskCall("abc").method, "DELETE");
  EXPECT_EQ(IndexTaskCountsCall("i1").path, "/tasks/status?index_id=i1");
  EXPECT_EQ(ImportStatusCall("int", "i1").path, "/tasks/transfers/import/int/status?index_id=i1");
  EXPECT_EQ(ImportLogsCall("int").path, "/tasks/transfers/import/int/logs");
  gw::ImportVideosRequest req;
  req.set_index_id("i1");
  req.set_incremental_import(false);
  auto call = ImportVideosCall("int", req);
  ASSERT_TRUE(call.ok());
  EXPECT_EQ(call->path, "/tasks/transfers/import/int");
  EXPECT_EQ(nlohmann::json::parse(call->json_body),
            nlohmann::json({{"index_id", "i1"}, {"incremental_import", false}}));
}

}  // namespace
}  // namespace tlgw
