// Asset and indexed-asset JSON (docs/upstream-api.md §9.2, §9.5) -> messages:
// every field, unknown statuses kept, optional members absent, bad types.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {
namespace {

// A ready asset with every member §9.2 names, as the simulator renders it
// plus an undocumented technical_metadata member.
constexpr char kReadyAsset[] = R"({
  "_id":"6900aa11bb22cc33dd44ee55","method":"url","status":"ready",
  "filename":"clip.mp4","file_type":"video/mp4","created_at":"2026-07-20T10:00:00.250Z",
  "user_metadata":{"team":"news","take":3,"final":true},
  "hls":{"manifest_url":"https://h/master.m3u8","status":"ready"},
  "thumbnail":{"representative_url":"https://h/t.jpg","status":"processing"},
  "size":1048576,"duration":12.5,
  "technical_metadata":{"video_width":1280,"video_height":720,"video_fps":29.97,
    "video_codec":"h264","video_duration_seconds":12.5,"has_audio":true,
    "duration_seconds":12.5,"audio_codec":"aac","audio_sample_rate":48000,
    "image_width":0,"image_height":0,"bitrate":2500000}
})";

TEST(ParseAsset, EveryField) {
  auto a = ParseAsset(kReadyAsset);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->id(), "6900aa11bb22cc33dd44ee55");
  EXPECT_EQ(a->method(), gw::ASSET_METHOD_URL);
  EXPECT_EQ(a->method_text(), "url");
  EXPECT_EQ(a->status(), gw::ASSET_STATUS_READY);
  EXPECT_EQ(a->status_text(), "ready");
  EXPECT_EQ(a->filename(), "clip.mp4");
  EXPECT_EQ(a->file_type(), "video/mp4");
  EXPECT_EQ(a->create_time().seconds(), 1784541600);
  EXPECT_EQ(a->create_time().nanos(), 250000000);
  const auto& meta = a->user_metadata().fields();
  EXPECT_EQ(meta.at("team").string_value(), "news");
  EXPECT_EQ(meta.at("take").number_value(), 3);
  EXPECT_TRUE(meta.at("final").bool_value());
  EXPECT_EQ(a->hls().manifest_url(), "https://h/master.m3u8");
  EXPECT_EQ(a->hls().status(), gw::ASSET_MEDIA_STATUS_READY);
  EXPECT_EQ(a->hls().status_text(), "ready");
  EXPECT_EQ(a->thumbnail().representative_url(), "https://h/t.jpg");
  EXPECT_EQ(a->thumbnail().status(), gw::ASSET_MEDIA_STATUS_PROCESSING);
  ASSERT_TRUE(a->has_size_bytes());
  EXPECT_EQ(a->size_bytes(), 1048576);
  ASSERT_TRUE(a->has_duration_seconds());
  EXPECT_DOUBLE_EQ(a->duration_seconds(), 12.5);
  const auto& t = a->technical_metadata();
  EXPECT_EQ(t.video_width(), 1280);
  EXPECT_EQ(t.video_height(), 720);
  EXPECT_DOUBLE_EQ(t.video_fps(), 29.97);
  EXPECT_EQ(t.video_codec(), "h264");
  EXPECT_DOUBLE_EQ(t.video_duration_seconds(), 12.5);
  EXPECT_TRUE(t.has_audio());
  EXPECT_DOUBLE_EQ(t.duration_seconds(), 12.5);
  EXPECT_EQ(t.audio_codec(), "aac");
  EXPECT_EQ(t.audio_sample_rate(), 48000);
  ASSERT_TRUE(t.has_image_width());
  EXPECT_EQ(t.image_width(), 0);
  EXPECT_EQ(t.image_height(), 0);
  // A member without a field of its own is kept too.
  EXPECT_EQ(t.all().fields().at("bitrate").number_value(), 2500000);
  EXPECT_EQ(t.all().fields().at("video_codec").string_value(), "h264");
  EXPECT_EQ(a->error_message(), "");
}

TEST(ParseAsset, FailedCarriesTheMessage) {
  auto a = ParseAsset(R"({"_id":"a1","method":"direct","status":"failed","filename":"x.mp4",
    "file_type":"video/mp4","created_at":"2026-07-20T10:00:00Z","error":{"message":"not media"}})");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status(), gw::ASSET_STATUS_FAILED);
  EXPECT_EQ(a->method(), gw::ASSET_METHOD_DIRECT);
  EXPECT_EQ(a->error_message(), "not media");
  EXPECT_TRUE(IsTerminal(a->status()));
}

TEST(ParseAsset, UnknownStatusesAndMethodAreKeptAsText) {
  auto a = ParseAsset(R"({"_id":"a1","method":"s3-pull","status":"waiting",
    "hls":{"status":"queued"},"thumbnail":{"status":"gone"}})");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status(), gw::ASSET_STATUS_OTHER);
  EXPECT_EQ(a->status_text(), "waiting");
  EXPECT_FALSE(IsTerminal(a->status()));
  EXPECT_EQ(a->method(), gw::ASSET_METHOD_OTHER);
  EXPECT_EQ(a->method_text(), "s3-pull");
  EXPECT_EQ(a->hls().status(), gw::ASSET_MEDIA_STATUS_OTHER);
  EXPECT_EQ(a->hls().status_text(), "queued");
  EXPECT_EQ(a->thumbnail().status(), gw::ASSET_MEDIA_STATUS_OTHER);
  EXPECT_EQ(a->thumbnail().status_text(), "gone");
}

TEST(ParseAsset, MissingOptionalMembersStayUnset) {
  // A processing asset: no size, duration, technical metadata, hls,
  // thumbnail, user metadata or error yet; nulls count as absent.
  auto a = ParseAsset(R"({"_id":"a1","method":"multipart","status":"processing",
    "filename":"big.mov","file_type":"video/quicktime","created_at":"2026-07-20T10:00:00Z",
    "size":null,"hls":null})");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->method(), gw::ASSET_METHOD_MULTIPART);
  EXPECT_EQ(a->status(), gw::ASSET_STATUS_PROCESSING);
  EXPECT_FALSE(a->has_size_bytes());
  EXPECT_FALSE(a->has_duration_seconds());
  EXPECT_FALSE(a->has_technical_metadata());
  EXPECT_FALSE(a->has_hls());
  EXPECT_FALSE(a->has_thumbnail());
  EXPECT_FALSE(a->has_user_metadata());
  EXPECT_TRUE(a->error_message().empty());
}

TEST(ParseAsset, UserMetadataSentAsAStringHoldingAnObject) {
  auto a = ParseAsset(R"({"_id":"a1","user_metadata":"{\"k\":\"v\"}"})");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->user_metadata().fields().at("k").string_value(), "v");
}

TEST(ParseAsset, BadBodiesAreInternalNamingTheField) {
  EXPECT_EQ(ParseAsset("not json").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ParseAsset(R"({"status":"ready"})").status().code(), absl::StatusCode::kInternal);
  auto bad = ParseAsset(R"({"_id":"a1","technical_metadata":{"video_width":"wide"}})");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "technical_metadata.video_width"))
      << bad.status();
  auto bad_meta = ParseAsset(R"({"_id":"a1","user_metadata":"not an object"})");
  EXPECT_EQ(bad_meta.status().code(), absl::StatusCode::kInternal);
  auto bad_time = ParseAsset(R"({"_id":"a1","created_at":"yesterday"})");
  EXPECT_TRUE(absl::StrContains(bad_time.status().message(), "created_at")) << bad_time.status();
}

TEST(ParseAssetPage, ItemsAndPageInfo) {
  auto page = ParseAssetPage(std::string(R"({"data":[)") + kReadyAsset +
                             R"(,{"_id":"a2","status":"processing"}],
      "page_info":{"limit_per_page":2,"page":1,"total_page":3,"total_results":5}})");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->assets.assets_size(), 2);
  EXPECT_EQ(page->assets.assets(0).technical_metadata().video_codec(), "h264");
  EXPECT_EQ(page->assets.assets(1).id(), "a2");
  EXPECT_EQ(page->assets.total_size(), 5);
  EXPECT_EQ(page->page, 1);
  EXPECT_EQ(page->total_pages, 3);
  auto bad = ParseAssetPage(R"({"data":[{"_id":"a1"},{"_id":7}]})");
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "data[1]._id")) << bad.status();
  EXPECT_FALSE(ParseAssetPage(R"({"page_info":{}})").ok());
}

constexpr char kIndexedAsset[] = R"({
  "_id":"6a00aa11bb22cc33dd44ee66","asset_id":"6900aa11bb22cc33dd44ee55",
  "created_at":"2026-07-20T10:01:00Z","updated_at":"2026-07-20T10:03:00Z",
  "indexed_at":"2026-07-20T10:03:00Z","status":"ready",
  "system_metadata":{"filename":"clip.mp4","duration":12.5,"fps":25,"width":1280,
    "height":720,"size":1048576},
  "user_metadata":{"team":"news"},
  "hls":{"video_url":"https://s/stream.m3u8","thumbnail_urls":["https://s/0.jpg"],
    "status":"COMPLETE","updated_at":"2026-07-20T10:03:00Z"}
})";

TEST(ParseIndexedAsset, EveryField) {
  auto a = ParseIndexedAsset(kIndexedAsset, "idx1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->id(), "6a00aa11bb22cc33dd44ee66");
  EXPECT_EQ(a->index_id(), "idx1");
  EXPECT_EQ(a->asset_id(), "6900aa11bb22cc33dd44ee55");
  EXPECT_EQ(a->status(), gw::INDEXED_ASSET_STATUS_READY);
  EXPECT_EQ(a->status_text(), "ready");
  EXPECT_EQ(a->create_time().seconds(), 1784541660);
  EXPECT_EQ(a->update_time().seconds(), 1784541780);
  EXPECT_EQ(a->index_time().seconds(), 1784541780);
  const auto& m = a->system_metadata();
  EXPECT_EQ(m.filename(), "clip.mp4");
  EXPECT_DOUBLE_EQ(m.duration_seconds(), 12.5);
  EXPECT_DOUBLE_EQ(m.fps(), 25);
  EXPECT_EQ(m.width(), 1280);
  EXPECT_EQ(m.height(), 720);
  EXPECT_EQ(m.size_bytes(), 1048576);
  EXPECT_EQ(a->user_metadata().fields().at("team").string_value(), "news");
  EXPECT_EQ(a->hls().video_url(), "https://s/stream.m3u8");
  ASSERT_EQ(a->hls().thumbnail_urls_size(), 1);
  EXPECT_EQ(a->hls().status(), gw::HLS_STATUS_COMPLETE);
  EXPECT_EQ(a->hls().update_time().seconds(), 1784541780);
}

TEST(ParseIndexedAsset, UnknownStatusKeptAndOptionalMembersUnset) {
  auto a = ParseIndexedAsset(R"({"_id":"i1","asset_id":"a1","status":"reindexing",
    "created_at":"2026-07-20T10:01:00Z","updated_at":"2026-07-20T10:01:00Z",
    "system_metadata":{"filename":"c.mp4"}})",
                             "idx1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status(), gw::INDEXED_ASSET_STATUS_OTHER);
  EXPECT_EQ(a->status_text(), "reindexing");
  EXPECT_FALSE(IsTerminal(a->status()));
  EXPECT_FALSE(a->has_index_time());
  EXPECT_FALSE(a->has_hls());
  EXPECT_FALSE(a->has_user_metadata());
  EXPECT_FALSE(a->system_metadata().has_duration_seconds());
  EXPECT_FALSE(a->system_metadata().has_size_bytes());
}

TEST(ParseIndexedAsset, EveryStatusMaps) {
  for (auto s : {gw::INDEXED_ASSET_STATUS_PENDING, gw::INDEXED_ASSET_STATUS_QUEUED,
                 gw::INDEXED_ASSET_STATUS_INDEXING, gw::INDEXED_ASSET_STATUS_READY,
                 gw::INDEXED_ASSET_STATUS_FAILED}) {
    EXPECT_EQ(IndexedAssetStatusFromText(IndexedAssetStatusText(s)), s);
  }
  for (auto s : {gw::ASSET_STATUS_PROCESSING, gw::ASSET_STATUS_READY, gw::ASSET_STATUS_FAILED}) {
    EXPECT_EQ(AssetStatusFromText(AssetStatusText(s)), s);
  }
}

TEST(ParseIndexedAssetPage, ItemsAndPageInfo) {
  auto page = ParseIndexedAssetPage(std::string(R"({"data":[)") + kIndexedAsset +
                                        R"(],"page_info":{"page":2,"total_page":2,"total_results":11}})",
                                    "idx1");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->indexed_assets.indexed_assets_size(), 1);
  EXPECT_EQ(page->indexed_assets.indexed_assets(0).index_id(), "idx1");
  EXPECT_EQ(page->indexed_assets.total_size(), 11);
  EXPECT_EQ(page->page, 2);
  EXPECT_EQ(page->total_pages, 2);
}

TEST(ParseIndexedAssetPage, WithoutAnIndexEachItemNamesItsOwn) {
  // GET /assets/{id}/indexed-assets spans indexes: the items carry index_id.
  auto page = ParseIndexedAssetPage(
      R"({"data":[{"_id":"i1","index_id":"idx9","asset_id":"a1","status":"ready"}],)"
      R"("page_info":{"page":1,"total_page":1,"total_results":1}})",
      "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->indexed_assets.indexed_assets_size(), 1);
  EXPECT_EQ(page->indexed_assets.indexed_assets(0).index_id(), "idx9");
  EXPECT_EQ(page->indexed_assets.indexed_assets(0).id(), "i1");
}

TEST(ParseCreatedIndexedAsset, IdAndAssetId) {
  auto c = ParseCreatedIndexedAsset(R"({"_id":"i1","asset_id":"a1"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, "i1");
  EXPECT_EQ(c->asset_id, "a1");
  EXPECT_EQ(ParseCreatedIndexedAsset(R"({"asset_id":"a1"})").status().code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace tlgw
