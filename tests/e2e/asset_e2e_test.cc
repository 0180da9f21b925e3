// AssetService end to end: the real gateway in front of the real simulator
// (API v1.3), every call checked against the REST requests the simulator
// received; and the v1.2 refusal.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/e2e/harness.h"
#include "twelvelabs/gateway/v1/asset_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

class AssetE2E : public E2EFixture<> {
 protected:
  void Launch(const std::string& version) {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    GatewayArgs args;
    args.upstream_url = sim_.Url(version);
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    assets_ = gw::AssetService::NewStub(gateway_.channel);
  }
  // The one request the simulator received since the last call, checked
  // for method, path and key.
  json Only(const std::string& method, const std::string& path) {
    json got = control_->Requests();
    control_->ClearRequests();
    EXPECT_EQ(got.size(), 1u) << got.dump();
    if (got.size() != 1) return json::object();
    EXPECT_EQ(got[0]["method"], method) << got.dump();
    EXPECT_EQ(got[0]["path"], path) << got.dump();
    EXPECT_EQ(got[0]["api_key"], kTestApiKey);
    return got[0];
  }

  std::unique_ptr<gw::AssetService::Stub> assets_;
};

TEST_F(AssetE2E, CreateGetListIndexGetIndexedAndDelete) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3"));
  control_->ClearRequests();

  gw::CreateAssetRequest create;
  create.set_url("https://cdn.example.com/media/e2e-clip.mp4");
  create.set_filename("e2e-clip.mp4");
  create.set_enable_thumbnail(true);
  gw::Asset asset;
  grpc::Status s = assets_->CreateAsset(Ctx().get(), create, &asset);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(asset.status(), gw::ASSET_STATUS_PROCESSING);
  EXPECT_EQ(asset.filename(), "e2e-clip.mp4");
  json post = Only("POST", "/v1.3/assets");
  EXPECT_EQ(post["form"]["method"], "url") << post.dump();
  EXPECT_EQ(post["form"]["url"], create.url()) << post.dump();
  EXPECT_EQ(post["form"]["filename"], "e2e-clip.mp4") << post.dump();
  EXPECT_EQ(post["form"]["enable_thumbnail"], "true") << post.dump();

  control_->AdvanceClock(5);  // one processing stage
  gw::GetAssetRequest get;
  get.set_asset_id(asset.id());
  gw::Asset ready;
  s = assets_->GetAsset(Ctx().get(), get, &ready);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ready.status(), gw::ASSET_STATUS_READY);
  Only("GET", "/v1.3/assets/" + asset.id());

  gw::ListAssetsRequest list;
  list.set_filename("e2e-clip");
  list.set_page_size(5);
  gw::ListAssetsResponse listed;
  s = assets_->ListAssets(Ctx().get(), list, &listed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(listed.assets_size(), 1);
  EXPECT_EQ(listed.assets(0).id(), asset.id());
  json lreq = Only("GET", "/v1.3/assets");
  EXPECT_EQ(lreq["query"]["filename"], json::array({"e2e-clip"})) << lreq.dump();
  EXPECT_EQ(lreq["query"]["page_limit"], json::array({"5"})) << lreq.dump();

  gw::IndexAssetRequest index;
  index.set_index_id(kSeedIndex);
  index.set_asset_id(asset.id());
  gw::IndexedAsset indexed;
  s = assets_->IndexAsset(Ctx().get(), index, &indexed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(indexed.asset_id(), asset.id());
  EXPECT_EQ(indexed.index_id(), kSeedIndex);
  EXPECT_EQ(indexed.status(), gw::INDEXED_ASSET_STATUS_PENDING);
  json created = control_->Requests();
  control_->ClearRequests();
  ASSERT_EQ(created.size(), 2u) << created.dump();
  const std::string ia_path = std::string("/v1.3/indexes/") + kSeedIndex + "/indexed-assets";
  EXPECT_EQ(created[0]["method"], "POST");
  EXPECT_EQ(created[0]["path"], ia_path);
  EXPECT_EQ(created[0]["json"]["asset_id"], asset.id()) << created.dump();
  EXPECT_EQ(created[1]["method"], "GET");
  EXPECT_EQ(created[1]["path"], ia_path + "/" + indexed.id());

  gw::GetIndexedAssetRequest get_indexed;
  get_indexed.set_index_id(kSeedIndex);
  get_indexed.set_indexed_asset_id(indexed.id());
  gw::IndexedAsset got;
  s = assets_->GetIndexedAsset(Ctx().get(), get_indexed, &got);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(got.id(), indexed.id());
  Only("GET", ia_path + "/" + indexed.id());

  gw::ListIndexedAssetsRequest list_indexed;
  list_indexed.set_index_id(kSeedIndex);
  list_indexed.mutable_duration_seconds()->set_min(1);
  gw::ListIndexedAssetsResponse ilisted;
  s = assets_->ListIndexedAssets(Ctx().get(), list_indexed, &ilisted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  json ilreq = Only("GET", ia_path);
  EXPECT_EQ(ilreq["query"]["duration[gte]"], json::array({"1"})) << ilreq.dump();

  // Watched to the end: the indexed asset goes pending, queued, indexing,
  // ready one stage (2 s of the simulator's clock) each.
  control_->AdvanceClock(10);
  {
    gw::WatchIndexedAssetRequest wreq;
    wreq.set_index_id(kSeedIndex);
    wreq.set_indexed_asset_id(indexed.id());
    auto ctx = Ctx();
    auto stream = assets_->WatchIndexedAsset(ctx.get(), wreq);
    gw::IndexedAssetEvent last;
    gw::IndexedAssetEvent e;
    while (stream->Read(&e)) last = e;
    grpc::Status end = stream->Finish();
    EXPECT_TRUE(end.ok()) << end.error_message();
    EXPECT_EQ(last.indexed_asset().status(), gw::INDEXED_ASSET_STATUS_READY);
    EXPECT_EQ(last.source(), gw::EVENT_SOURCE_SNAPSHOT);
  }
  {
    gw::WatchAssetRequest wreq;
    wreq.set_asset_id(asset.id());
    auto ctx = Ctx();
    auto stream = assets_->WatchAsset(ctx.get(), wreq);
    gw::AssetEvent e;
    ASSERT_TRUE(stream->Read(&e));
    EXPECT_EQ(e.asset().status(), gw::ASSET_STATUS_READY);
    EXPECT_FALSE(stream->Read(&e));
    EXPECT_TRUE(stream->Finish().ok());
  }
  json watched = control_->Requests();
  control_->ClearRequests();
  ASSERT_EQ(watched.size(), 2u) << watched.dump();
  EXPECT_EQ(watched[0]["path"], ia_path + "/" + indexed.id());
  EXPECT_EQ(watched[1]["path"], "/v1.3/assets/" + asset.id());

  // Still indexed: upstream's 409 becomes FAILED_PRECONDITION saying how
  // to proceed.
  gw::DeleteAssetRequest del;
  del.set_asset_id(asset.id());
  google::protobuf::Empty empty;
  s = assets_->DeleteAsset(Ctx().get(), del, &empty);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "force")) << s.error_message();
  Only("DELETE", "/v1.3/assets/" + asset.id());

  gw::DeleteIndexedAssetRequest del_indexed;
  del_indexed.set_index_id(kSeedIndex);
  del_indexed.set_indexed_asset_id(indexed.id());
  s = assets_->DeleteIndexedAsset(Ctx().get(), del_indexed, &empty);
  ASSERT_TRUE(s.ok()) << s.error_message();
  Only("DELETE", ia_path + "/" + indexed.id());

  s = assets_->DeleteAsset(Ctx().get(), del, &empty);
  ASSERT_TRUE(s.ok()) << s.error_message();
  json deleted = Only("DELETE", "/v1.3/assets/" + asset.id());
  EXPECT_FALSE(deleted["query"].contains("force")) << deleted.dump();
  s = assets_->GetAsset(Ctx().get(), get, &ready);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
}

TEST_F(AssetE2E, OnV12EveryMethodNamesV13WithoutARequest) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.2"));
  control_->ClearRequests();
  gw::GetAssetRequest get;
  get.set_asset_id("0123456789abcdef01234567");
  gw::Asset asset;
  grpc::Status s = assets_->GetAsset(Ctx().get(), get, &asset);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "v1.3")) << s.error_message();
  EXPECT_TRUE(control_->Requests().empty());
}

}  // namespace
}  // namespace tltest
