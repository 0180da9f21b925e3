// The fake's in-memory assets and indexed assets behave as the client
// reports upstream's: create, read, list, the ready check before indexing,
// the referenced-asset delete, and v1.2 refusing every method.
#include <gtest/gtest.h>

#include "tests/support/fake_twelvelabs_api.h"

namespace tlgw {
namespace {

template <typename T>
absl::StatusOr<T> Sync(absl::AnyInvocable<void(TwelveLabsApi::Done<T>)> call) {
  absl::StatusOr<T> out = absl::InternalError("not called");
  call([&](absl::StatusOr<T> r) { out = std::move(r); });
  return out;
}

TEST(FakeTwelveLabsApiAssets, CreateIndexListDelete) {
  FakeTwelveLabsApi api;
  CallOptions opts;
  gw::CreateAssetRequest create;
  create.set_url("https://cdn.example.com/path/clip.mp4");
  auto asset = Sync<gw::Asset>([&](auto done) { api.CreateAsset(opts, create, std::move(done)); });
  ASSERT_TRUE(asset.ok()) << asset.status();
  EXPECT_EQ(asset->status(), gw::ASSET_STATUS_PROCESSING);
  EXPECT_EQ(asset->filename(), "clip.mp4");

  gw::IndexAssetRequest index;
  index.set_index_id("idx");
  index.set_asset_id(asset->id());
  auto early = Sync<CreatedIndexedAsset>([&](auto done) { api.CreateIndexedAsset(opts, index, std::move(done)); });
  EXPECT_EQ(early.status().code(), absl::StatusCode::kInvalidArgument);

  gw::Asset ready = *asset;
  ready.set_status(gw::ASSET_STATUS_READY);
  ready.set_status_text("ready");
  api.PutAsset(ready);
  auto created = Sync<CreatedIndexedAsset>([&](auto done) { api.CreateIndexedAsset(opts, index, std::move(done)); });
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->asset_id, asset->id());
  auto got = Sync<gw::IndexedAsset>([&](auto done) { api.GetIndexedAsset(opts, "idx", created->id, std::move(done)); });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status(), gw::INDEXED_ASSET_STATUS_PENDING);

  gw::ListIndexedAssetsRequest list;
  list.set_index_id("idx");
  list.add_statuses(gw::INDEXED_ASSET_STATUS_PENDING);
  auto page = Sync<IndexedAssetPage>([&](auto done) { api.ListIndexedAssets(opts, list, 1, 10, std::move(done)); });
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->indexed_assets.indexed_assets_size(), 1);
  gw::ListAssetsRequest assets;
  assets.add_asset_types(gw::ASSET_TYPE_AUDIO);
  auto none = Sync<AssetPage>([&](auto done) { api.ListAssets(opts, assets, 1, 10, std::move(done)); });
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->assets.assets_size(), 0);

  absl::Status deleted;
  api.DeleteAsset(opts, asset->id(), false, [&](absl::Status s) { deleted = s; });
  EXPECT_EQ(deleted.code(), absl::StatusCode::kFailedPrecondition);
  api.DeleteAsset(opts, asset->id(), true, [&](absl::Status s) { deleted = s; });
  EXPECT_TRUE(deleted.ok()) << deleted;
  EXPECT_FALSE(api.asset(asset->id()).has_value());
  api.DeleteIndexedAsset(opts, "idx", created->id, [&](absl::Status s) { deleted = s; });
  EXPECT_TRUE(deleted.ok()) << deleted;
  EXPECT_EQ(api.count("DeleteAsset"), 2);
}

TEST(FakeTwelveLabsApiAssets, V12RefusesNamingV13) {
  FakeTwelveLabsApi api(ApiVersion::kV1_2);
  auto r = Sync<gw::Asset>([&](auto done) { api.GetAsset(CallOptions(), "a", std::move(done)); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("v1.3"), absl::string_view::npos);
}

}  // namespace
}  // namespace tlgw
