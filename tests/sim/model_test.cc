// Pure-logic tests of the simulator: lifecycle, rendering, helpers,
// multipart hashing and fault matching. No sockets, no sleeping.
#include "sim/model.h"

#include <openssl/evp.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/common.h"
#include "sim/faults.h"
#include "sim/multipart.h"
#include "sim/rest_api.h"

namespace tlsim {
namespace {

using nlohmann::json;

const absl::Time kT0 = absl::FromUnixMillis(1700000000000);

Task MakeTask(bool broken = false) {
  Task t;
  t.id = "aaaaaaaaaaaaaaaaaaaaaaaa";
  t.index_id = "bbbbbbbbbbbbbbbbbbbbbbbb";
  t.created_at = kT0;
  t.stage = absl::Seconds(2);
  t.broken = broken;
  t.metadata = MetadataFor("clip.mp4", "src");
  return t;
}

TEST(ComputeStateTest, WalksEveryStageThenStaysReady) {
  const Task t = MakeTask();
  const struct {
    double at;
    TaskStatus status;
    double updated;
  } kSteps[] = {{0, TaskStatus::kValidating, 0}, {1.999, TaskStatus::kValidating, 0},
                {2, TaskStatus::kPending, 2},    {4.5, TaskStatus::kQueued, 4},
                {6, TaskStatus::kIndexing, 6},   {8, TaskStatus::kReady, 8},
                {1000, TaskStatus::kReady, 8}};
  for (const auto& step : kSteps) {
    TaskState s = ComputeState(t, kT0 + absl::Seconds(step.at));
    EXPECT_EQ(s.status, step.status) << "at " << step.at;
    EXPECT_EQ(s.updated_at, kT0 + absl::Seconds(step.updated)) << "at " << step.at;
  }
}

TEST(ComputeStateTest, BrokenFailsAfterValidating) {
  const Task t = MakeTask(/*broken=*/true);
  EXPECT_EQ(ComputeState(t, kT0 + absl::Seconds(1)).status, TaskStatus::kValidating);
  TaskState s = ComputeState(t, kT0 + absl::Seconds(3));
  EXPECT_EQ(s.status, TaskStatus::kFailed);
  EXPECT_EQ(s.updated_at, kT0 + absl::Seconds(2));
}

TEST(ComputeStateTest, ZeroStageIsReadyAtOnceAndForcedStatusWins) {
  Task t = MakeTask();
  t.stage = absl::ZeroDuration();
  EXPECT_EQ(ComputeState(t, kT0).status, TaskStatus::kReady);
  t.forced_status = TaskStatus::kFailed;
  t.forced_at = kT0 + absl::Seconds(5);
  EXPECT_EQ(ComputeState(t, kT0 + absl::Seconds(1)).status, TaskStatus::kReady);
  EXPECT_EQ(ComputeState(t, kT0 + absl::Seconds(6)).status, TaskStatus::kFailed);
  EXPECT_EQ(ComputeState(t, kT0 + absl::Seconds(6)).updated_at, t.forced_at);
}

TEST(RenderTaskTest, V13ShapeWithHls) {
  const Task t = MakeTask();
  json j = RenderTask(t, ApiVersion::kV1_3, kT0 + absl::Seconds(1), true);
  EXPECT_EQ(j["_id"], t.id);
  EXPECT_EQ(j["video_id"], t.id);
  EXPECT_EQ(j["status"], "validating");
  EXPECT_EQ(j["created_at"], "2023-11-14T22:13:20.000Z");
  ASSERT_TRUE(j.contains("system_metadata"));
  EXPECT_FALSE(j.contains("metadata"));
  EXPECT_FALSE(j.contains("estimated_time"));
  EXPECT_TRUE(j["system_metadata"]["duration"].is_number_float());
  EXPECT_TRUE(j["system_metadata"]["width"].is_number_integer());
  EXPECT_EQ(j["system_metadata"]["filename"], "clip.mp4");
  EXPECT_EQ(j["hls"]["status"], "PROCESSING");
  j = RenderTask(t, ApiVersion::kV1_3, kT0 + absl::Seconds(9), true);
  EXPECT_EQ(j["hls"]["status"], "COMPLETE");
  EXPECT_TRUE(j["hls"]["thumbnail_urls"].is_array());
  EXPECT_FALSE(RenderTask(t, ApiVersion::kV1_3, kT0, false).contains("hls"));
}

TEST(RenderTaskTest, V12ShapeWithProcessAndLateVideoId) {
  Task t = MakeTask();
  json j = RenderTask(t, ApiVersion::kV1_2, kT0 + absl::Seconds(7), true);
  EXPECT_EQ(j["status"], "indexing");
  EXPECT_FALSE(j.contains("video_id"));
  EXPECT_FALSE(j.contains("system_metadata"));
  EXPECT_EQ(j["metadata"]["filename"], "clip.mp4");
  EXPECT_EQ(j["estimated_time"], "2023-11-14T22:13:28.000Z");
  EXPECT_DOUBLE_EQ(j["process"]["percentage"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(j["process"]["remain_seconds"].get<double>(), 1.0);
  j = RenderTask(t, ApiVersion::kV1_2, kT0 + absl::Seconds(8), true);
  EXPECT_EQ(j["video_id"], t.id);
  EXPECT_FALSE(j.contains("process"));
  t.stream_enabled = false;
  EXPECT_FALSE(RenderTask(t, ApiVersion::kV1_2, kT0, true).contains("hls"));
}

TEST(MetadataTest, DeterministicAndInRange) {
  for (int i = 0; i < 200; ++i) {
    const std::string name = "video" + std::to_string(i) + ".mp4";
    VideoMetadata a = MetadataFor(name, "x");
    VideoMetadata b = MetadataFor(name, "x");
    EXPECT_EQ(a.duration, b.duration);
    EXPECT_GE(a.duration, 10.0);
    EXPECT_LE(a.duration, 600.0);
    EXPECT_GT(a.width, a.height);
  }
}

TEST(CommonTest, Ids) {
  EXPECT_TRUE(IsObjectId("0123456789abcdef01234567"));
  EXPECT_FALSE(IsObjectId("0123456789ABCDEF01234567"));
  EXPECT_FALSE(IsObjectId("0123456789abcdef0123456"));
  EXPECT_FALSE(IsObjectId("0123456789abcdef0123456g"));
}

TEST(CommonTest, Times) {
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(1705391980879)), "2024-01-16T07:59:40.879Z");
  EXPECT_EQ(ParseRfc3339("2024-01-16T07:59:40.879Z"), absl::FromUnixMillis(1705391980879));
  EXPECT_EQ(ParseRfc3339("2024-01-16T09:59:40.879+02:00"), absl::FromUnixMillis(1705391980879));
  EXPECT_TRUE(ParseRfc3339("2024-01-16").has_value());
  EXPECT_FALSE(ParseRfc3339("yesterday").has_value());
}

TEST(CommonTest, Urls) {
  EXPECT_EQ(HttpUrlHost("https://User@Example.COM:8443/a?b"), "example.com");
  EXPECT_EQ(HttpUrlHost("http://cdn.test/x.mp4"), "cdn.test");
  EXPECT_FALSE(HttpUrlHost("ftp://cdn.test/x.mp4").has_value());
  EXPECT_FALSE(HttpUrlHost("https:///x.mp4").has_value());
  for (const char* host : {"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be"}) {
    EXPECT_TRUE(IsYouTubeHost(host)) << host;
  }
  EXPECT_FALSE(IsYouTubeHost("notyoutube.com"));
  EXPECT_EQ(UrlLastPathSegment("https://h/a/b/clip.mp4?sig=1#t"), "clip.mp4");
  EXPECT_EQ(UrlLastPathSegment("https://h/a/dir/"), "dir");
  EXPECT_EQ(UrlLastPathSegment("https://h"), "");
  EXPECT_EQ(ParseFormBool("True"), true);
  EXPECT_EQ(ParseFormBool("false"), false);
  EXPECT_FALSE(ParseFormBool("1").has_value());
}

TEST(CommonTest, DumpJsonSurvivesInvalidUtf8) {
  json j = {{"name", std::string("bad\xff\xfe")}};
  EXPECT_FALSE(DumpJson(j).empty());
}

std::string ReferenceSha256(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), size));
}

TEST(MultipartCollectorTest, HashesFilesAndKeepsValues) {
  MultipartCollector c(TaskFileFieldNames(), TaskValueFieldNames(),
                       /*max_hashed_bytes=*/1 << 20, /*max_value_bytes=*/8);
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  c.OnPart("index_id", "", "");
  c.OnData("abc", 3);
  c.OnPart("video_file", "a.mp4", "video/mp4");
  for (size_t off = 0; off < data.size(); off += 4096) {
    c.OnData(data.data() + off, std::min<size_t>(4096, data.size() - off));
  }
  c.OnPart("video_url", "blob", "");  // a value sent as a file-like part
  c.OnData("https://x", 9);           // longer than the 8-byte cap
  c.OnPart("mystery", "m.bin", "");
  c.OnData("zz", 2);
  c.Finish();
  ASSERT_EQ(c.values().size(), 2u);
  EXPECT_EQ(c.values()[0], std::make_pair(std::string("index_id"), std::string("abc")));
  EXPECT_EQ(c.values()[1].first, "video_url");
  EXPECT_EQ(c.oversized_values().count("video_url"), 1u);
  ASSERT_EQ(c.files().size(), 2u);
  EXPECT_EQ(c.files()[0].first, "video_file");
  EXPECT_EQ(c.files()[0].second.size, data.size());
  EXPECT_EQ(c.files()[0].second.sha256, ReferenceSha256(data));
  EXPECT_EQ(c.files()[0].second.filename, "a.mp4");
  EXPECT_EQ(c.files()[1].first, "mystery");
}

TEST(Sha256Test, KnownVector) {
  Sha256 h;
  h.Update("ab", 2);
  h.Update("c", 1);
  EXPECT_EQ(h.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(FaultListTest, OrderCountsAndValidation) {
  FaultList faults;
  ASSERT_TRUE(faults
                  .Add({{"kind", "status"},
                        {"status", 500},
                        {"method", "get"},
                        {"path_regex", "^/v1\\.3/"},
                        {"count", 2}})
                  .ok());
  ASSERT_TRUE(faults.Add({{"kind", "latency"}, {"count", -1}}).ok());
  EXPECT_FALSE(faults.Add({{"kind", "explode"}}).ok());
  EXPECT_FALSE(faults.Add({{"kind", "status"}, {"path_regex", "("}}).ok());
  EXPECT_FALSE(faults.Add({{"kind", "status"}, {"count", 0}}).ok());
  EXPECT_FALSE(faults.Add({{"kind", "status"}, {"colour", 1}}).ok());

  auto f = faults.Take("GET", "/v1.3/tasks");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->kind, FaultKind::kStatus);
  EXPECT_EQ(f->status, 500);
  // POST skips the GET-only fault and gets the catch-all.
  EXPECT_EQ(faults.Take("POST", "/v1.3/tasks")->kind, FaultKind::kLatency);
  EXPECT_EQ(faults.Take("GET", "/v1.3/x")->kind, FaultKind::kStatus);
  // Count 2 used up; only the unlimited one is left.
  EXPECT_EQ(faults.Take("GET", "/v1.3/x")->kind, FaultKind::kLatency);
  EXPECT_EQ(faults.ToJson().size(), 1u);
  faults.Clear();
  EXPECT_FALSE(faults.Take("GET", "/v1.3/x").has_value());
}

TEST(FaultListTest, KindDefaults) {
  FaultList faults;
  ASSERT_TRUE(faults.Add({{"kind", "rate_limit"}}).ok());
  ASSERT_TRUE(faults.Add({{"kind", "malformed_json"}}).ok());
  auto a = faults.Take("GET", "/");
  EXPECT_EQ(a->status, 429);
  EXPECT_EQ(a->retry_after_seconds, 1);
  EXPECT_EQ(faults.Take("GET", "/")->status, 200);
}

}  // namespace
}  // namespace tlsim
