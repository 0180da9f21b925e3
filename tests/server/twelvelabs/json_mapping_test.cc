#include "server/twelvelabs/json_mapping.h"

#include <gtest/gtest.h>

#include "google/protobuf/util/json_util.h"
#include <nlohmann/json.hpp>

namespace tlgw {
namespace {

TEST(TaskStatus, EveryUpstreamStatusMapsAndUnknownIsKept) {
  EXPECT_EQ(TaskStatusFromText("uploading"), gw::TASK_STATUS_UPLOADING);
  EXPECT_EQ(TaskStatusFromText("validating"), gw::TASK_STATUS_VALIDATING);
  EXPECT_EQ(TaskStatusFromText("pending"), gw::TASK_STATUS_PENDING);
  EXPECT_EQ(TaskStatusFromText("queued"), gw::TASK_STATUS_QUEUED);
  EXPECT_EQ(TaskStatusFromText("indexing"), gw::TASK_STATUS_INDEXING);
  EXPECT_EQ(TaskStatusFromText("ready"), gw::TASK_STATUS_READY);
  EXPECT_EQ(TaskStatusFromText("failed"), gw::TASK_STATUS_FAILED);
  EXPECT_EQ(TaskStatusFromText("transcoding"), gw::TASK_STATUS_OTHER);
  auto task = ParseTask(R"({"_id":"61e1789761c43d6d9b7362f3","status":"transcoding"})", ApiVersion::kV1_3);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), gw::TASK_STATUS_OTHER);
  EXPECT_EQ(task->status_text(), "transcoding");
}

TEST(ParseTask, V13DocExampleKeepsEveryField) {
  const char* body = R"({"_id":"61e1789761c43d6d9b7362f3","index_id":"61e165b061c43d6d9b73627b",
    "video_id":"61e1789761c43d6d9b7362f3","status":"ready",
    "created_at":"2022-01-14T13:20:22.986Z","updated_at":"2022-01-17T08:35:21.639Z",
    "system_metadata":{"duration":531.998133,"filename":"01.mp4","height":360,"width":640},
    "hls":{"video_url":"https://x/stream/a.m3u8","thumbnail_urls":["https://x/t/1.jpg"],
           "status":"COMPLETE","updated_at":"2024-01-16T07:59:40.879Z"}})";
  auto task = ParseTask(body, ApiVersion::kV1_3);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->id(), "61e1789761c43d6d9b7362f3");
  EXPECT_EQ(task->index_id(), "61e165b061c43d6d9b73627b");
  EXPECT_EQ(task->video_id(), "61e1789761c43d6d9b7362f3");
  EXPECT_EQ(task->status(), gw::TASK_STATUS_READY);
  EXPECT_EQ(task->status_text(), "ready");
  EXPECT_EQ(task->create_time().seconds(), 1642166422);
  EXPECT_EQ(task->create_time().nanos(), 986000000);
  EXPECT_EQ(FormatRfc3339(task->update_time()), "2022-01-17T08:35:21.639Z");
  EXPECT_DOUBLE_EQ(task->system_metadata().duration_seconds(), 531.998133);
  EXPECT_EQ(task->system_metadata().filename(), "01.mp4");
  EXPECT_EQ(task->system_metadata().width(), 640);
  EXPECT_EQ(task->system_metadata().height(), 360);
  EXPECT_EQ(task->hls().video_url(), "https://x/stream/a.m3u8");
  ASSERT_EQ(task->hls().thumbnail_urls_size(), 1);
  EXPECT_EQ(task->hls().status(), gw::HLS_STATUS_COMPLETE);
  EXPECT_EQ(task->hls().update_time().seconds(), 1705391980);
  EXPECT_FALSE(task->has_progress());
  EXPECT_FALSE(task->has_estimated_time());
}

TEST(ParseTask, V12ShapeWithMetadataEstimatedTimeAndProcess) {
  const char* body = R"({"_id":"62a17bf847f5678267ec10cc","index_id":"62a0906d47f5678267ec10a6",
    "status":"indexing","created_at":"2022-06-09T04:50:00.879Z","updated_at":"2022-06-09T04:55:57.256Z",
    "estimated_time":"2022-06-09T05:00:00.000+09:00",
    "metadata":{"duration":30.5,"filename":"a.mp4","height":720,"width":1280},
    "process":{"percentage":42.5,"remain_seconds":17}})";
  auto task = ParseTask(body, ApiVersion::kV1_2);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), gw::TASK_STATUS_INDEXING);
  EXPECT_EQ(task->system_metadata().filename(), "a.mp4");
  EXPECT_EQ(task->system_metadata().width(), 1280);
  // +09:00 is converted to UTC.
  EXPECT_EQ(FormatRfc3339(task->estimated_time()), "2022-06-08T20:00:00.000Z");
  EXPECT_DOUBLE_EQ(task->progress().percentage(), 42.5);
  EXPECT_DOUBLE_EQ(task->progress().remaining_seconds(), 17);
  EXPECT_TRUE(task->video_id().empty());
}

TEST(ParseTask, NullFieldsAreAbsentNotErrors) {
  auto task = ParseTask(R"({"_id":"a","video_id":null,"estimated_time":null,"hls":null})", ApiVersion::kV1_2);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_FALSE(task->has_estimated_time());
  EXPECT_FALSE(task->has_hls());
}

TEST(ParseTask, MalformedBodiesAreInternalErrorsNamingTheProblem) {
  struct Case {
    const char* body;
    const char* mentions;
  } cases[] = {
      {"", "not valid JSON"},
      {R"({"_id": )", "not valid JSON"},
      {"[1,2]", "expected an object"},
      {R"({"status":"ready"})", "_id is missing"},
      {R"({"_id":5})", "_id should be a string but is number"},
      {R"({"_id":"a","status":["x"]})", "status should be a string but is array"},
      {R"({"_id":"a","created_at":"yesterday"})", "created_at"},
      {R"({"_id":"a","system_metadata":{"width":"wide"}})", "metadata.width should be a number"},
      {R"({"_id":"a","hls":{"updated_at":7}})", "hls.updated_at should be a string"},
  };
  for (const auto& c : cases) {
    auto task = ParseTask(c.body, ApiVersion::kV1_3);
    ASSERT_FALSE(task.ok()) << c.body;
    EXPECT_EQ(task.status().code(), absl::StatusCode::kInternal) << c.body;
    EXPECT_NE(task.status().message().find(c.mentions), absl::string_view::npos)
        << c.body << " -> " << task.status();
  }
}

TEST(ParseTaskPage, ItemsAndPageInfo) {
  const char* body = R"({"data":[{"_id":"62a17bf847f5678267ec10cc","index_id":"62a0906d47f5678267ec10a6",
    "status":"ready","created_at":"2022-06-09T04:50:00.879Z","updated_at":"2022-06-09T04:55:57.256Z"}],
    "page_info":{"limit_per_page":10,"page":1,"total_page":3,"total_results":25}})";
  auto page = ParseTaskPage(body, ApiVersion::kV1_3);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->tasks.tasks_size(), 1);
  EXPECT_EQ(page->tasks.tasks(0).status(), gw::TASK_STATUS_READY);
  EXPECT_EQ(page->tasks.total_size(), 25);
  EXPECT_EQ(page->page, 1);
  EXPECT_EQ(page->total_pages, 3);
  auto bad = ParseTaskPage(R"({"data":[{"_id":1}]})", ApiVersion::kV1_3);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("data[0]._id"), absl::string_view::npos) << bad.status();
}

TEST(ParseIndexTaskCounts, KnownFieldsAndEveryCountInTheMap) {
  auto counts = ParseIndexTaskCounts(
      R"({"index_id":"i","ready":3,"validating":1,"pending":2,"failed":4,"queued":5,"total_result":15})");
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->ready(), 3);
  EXPECT_EQ(counts->validating(), 1);
  EXPECT_EQ(counts->pending(), 2);
  EXPECT_EQ(counts->failed(), 4);
  EXPECT_EQ(counts->total(), 15);
  EXPECT_EQ(counts->counts().at("queued"), 5);
  EXPECT_EQ(counts->counts().at("total"), 15);
  EXPECT_FALSE(ParseIndexTaskCounts(R"({"ready":"3"})").ok());
}

// Found by the json_mapping fuzz target: a count beyond int64 was converted
// with json::get<int64_t>(), undefined behaviour for a float out of range.
TEST(ParseIndexTaskCounts, CountsOutOfRangeAreErrors) {
  for (const char* body : {R"({"ready":123456789012345678901})", R"({"ready":1e300})",
                           R"({"ready":-1e19})", R"({"ready":18446744073709551615})"}) {
    auto counts = ParseIndexTaskCounts(body);
    ASSERT_FALSE(counts.ok()) << body;
    EXPECT_EQ(counts.status().code(), absl::StatusCode::kInternal) << body;
    EXPECT_NE(counts.status().message().find("ready should be an integer"), std::string::npos)
        << counts.status();
  }
  auto big = ParseIndexTaskCounts(R"({"ready":9223372036854775807,"failed":-9223372036854775808,"pending":2.0})");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->ready(), INT64_MAX);
  EXPECT_EQ(big->failed(), INT64_MIN);
  EXPECT_EQ(big->pending(), 2);
}

TEST(ParseImports, VideosStatusAndLogs) {
  auto created = ParseImportVideos(
      R"({"videos":[{"video_id":"v1","filename":"a.mp4"}],"failed_files":[{"filename":"b.mp4","error_message":"too short"}]})");
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->videos_size(), 1);
  EXPECT_EQ(created->videos(0).video_id(), "v1");
  EXPECT_EQ(created->failed_files(0).error_message(), "too short");

  auto status = ParseImportStatus(R"({"not_imported":["x.mp4"],
    "validating":[{"video_id":"v2","filename":"b.mp4","created_at":"2024-01-01T00:00:00Z"}],
    "pending":[],"queued":[],"indexing":[],"ready":[{"video_id":"v1","filename":"a.mp4"}],
    "failed":[{"filename":"c.mp4","created_at":"2024-01-01T00:00:01Z","error_message":"broken"}]})");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->not_imported(0), "x.mp4");
  EXPECT_EQ(status->validating(0).video_id(), "v2");
  EXPECT_EQ(status->validating(0).create_time().seconds(), 1704067200);
  EXPECT_EQ(status->ready(0).filename(), "a.mp4");
  EXPECT_EQ(status->failed(0).error_message(), "broken");

  auto logs = ParseImportLogs(R"({"data":[{"index_id":"i","index_name":"n","created_at":"2024-01-01T00:00:00Z",
    "ended_at":null,"video_status":{"ready":1,"validating":2,"queued":0,"pending":0,"indexing":3,"failed":1},
    "failed_files":[{"filename":"c.mp4","error_message":"broken"}]}]})");
  ASSERT_TRUE(logs.ok()) << logs.status();
  ASSERT_EQ(logs->logs_size(), 1);
  EXPECT_FALSE(logs->logs(0).has_end_time());
  EXPECT_EQ(logs->logs(0).video_status().indexing(), 3);
  EXPECT_EQ(logs->logs(0).failed_files(0).filename(), "c.mp4");
}

TEST(UserMetadataJson, ScalarsOnly) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["category"].set_string_value("news");
  (*s.mutable_fields())["batch"].set_number_value(5);
  (*s.mutable_fields())["score"].set_number_value(0.5);
  (*s.mutable_fields())["live"].set_bool_value(true);
  auto json = UserMetadataJson(s, "user_metadata");
  ASSERT_TRUE(json.ok()) << json.status();
  auto parsed = nlohmann::json::parse(*json);
  EXPECT_EQ(parsed["category"], "news");
  EXPECT_TRUE(parsed["batch"].is_number_integer());
  EXPECT_EQ(parsed["batch"], 5);
  EXPECT_EQ(parsed["score"], 0.5);
  EXPECT_EQ(parsed["live"], true);

  (*s.mutable_fields())["nested"].mutable_struct_value();
  auto bad = UserMetadataJson(s, "user_metadata");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("user_metadata.nested"), absl::string_view::npos);
}

}  // namespace
}  // namespace tlgw
