// The real TwelveLabsClient (libcurl transport) against the real simulator:
// every asset and indexed-asset method, checked by what the client returns
// and by the REST requests the simulator logged (GET /_sim/requests).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/common/clock.h"
#include "server/common/executor.h"
#include "server/twelvelabs/client.h"
#include "server/upstream/curl_transport.h"
#include "sim/simulator.h"

namespace tlgw {
namespace {

using nlohmann::json;
constexpr char kIndex[] = "0123456789abcdef01234567";  // the simulator's seed index

template <typename T>
absl::StatusOr<T> Wait(absl::AnyInvocable<void(TwelveLabsApi::Done<T>)> call) {
  absl::StatusOr<T> out = absl::InternalError("not called");
  absl::Notification done;
  call([&](absl::StatusOr<T> r) {
    out = std::move(r);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  return out;
}

absl::Status WaitStatus(absl::AnyInvocable<void(TwelveLabsApi::DoneStatus)> call) {
  absl::Status out = absl::InternalError("not called");
  absl::Notification done;
  call([&](absl::Status s) {
    out = std::move(s);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  return out;
}

class AssetClientSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tlsim::SimulatorOptions so;
    so.manual_clock = true;
    so.stage_seconds = 2.0;
    so.num_threads = 8;
    auto sim = tlsim::Simulator::Start(so);
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = *std::move(sim);
    control_ = std::make_unique<httplib::Client>("127.0.0.1", sim_->port());
    auto transport = CurlTransport::Create(CurlTransportOptions());
    ASSERT_TRUE(transport.ok()) << transport.status();
    transport_ = *std::move(transport);
    ClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(sim_->port()) + "/v1.3";
    o.initial_backoff = absl::Milliseconds(10);
    client_ = *TwelveLabsClient::Create(o, transport_.get(), &clock_, &completions_);
    opts_.api_key = "sim-key";
    opts_.deadline = absl::Now() + absl::Seconds(60);
  }
  void TearDown() override {
    if (transport_ != nullptr) transport_->Stop();
    completions_.Shutdown();
    clock_.Shutdown();
  }

  json Control(const std::string& method, const std::string& path, const json& body = nullptr) {
    auto r = method == "GET" ? control_->Get(path)
                             : control_->Post(path, body.is_null() ? "{}" : body.dump(), "application/json");
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body, nullptr, false);
  }
  void Advance(double seconds) { Control("POST", "/_sim/clock/advance", {{"seconds", seconds}}); }
  // The logged REST requests whose path contains `part`, in arrival order.
  json Logged(const std::string& part) {
    return Control("GET", "/_sim/requests?path_contains=" + part)["requests"];
  }

  std::unique_ptr<tlsim::Simulator> sim_;
  std::unique_ptr<httplib::Client> control_;
  std::unique_ptr<CurlTransport> transport_;
  RealClock clock_;
  ThreadExecutor completions_{2, "asset-sim-test"};
  std::unique_ptr<TwelveLabsClient> client_;
  CallOptions opts_;
};

TEST_F(AssetClientSimTest, EveryMethodThroughTheSimulator) {
  // Create from a URL, with every option.
  gw::CreateAssetRequest create;
  create.set_url("https://cdn.test/news-clip.mp4");
  create.set_filename("news-clip.mp4");
  create.set_enable_hls(true);
  create.set_enable_thumbnail(true);
  (*create.mutable_user_metadata()->mutable_fields())["desk"].set_string_value("news");
  auto asset = Wait<gw::Asset>([&](auto done) { client_->CreateAsset(opts_, create, std::move(done)); });
  ASSERT_TRUE(asset.ok()) << asset.status();
  EXPECT_EQ(asset->status(), gw::ASSET_STATUS_PROCESSING);
  EXPECT_EQ(asset->method(), gw::ASSET_METHOD_URL);
  EXPECT_EQ(asset->filename(), "news-clip.mp4");
  const std::string asset_id = asset->id();

  json log = Logged("/v1.3/assets");
  ASSERT_EQ(log.size(), 1u) << log.dump();
  EXPECT_EQ(log[0]["method"], "POST");
  EXPECT_EQ(log[0]["api_key"], "sim-key");
  EXPECT_EQ(log[0]["form"]["method"], "url");
  EXPECT_EQ(log[0]["form"]["url"], "https://cdn.test/news-clip.mp4");
  EXPECT_EQ(log[0]["form"]["enable_hls"], "true");
  EXPECT_EQ(log[0]["form"]["enable_thumbnail"], "true");
  EXPECT_EQ(json::parse(log[0]["form"]["user_metadata"].get<std::string>()), json({{"desk", "news"}}));

  // Ready after one stage, with its technical metadata; a 503 on the way
  // is retried (reads are).
  Advance(2);
  Control("POST", "/_sim/faults",
          {{"method", "GET"}, {"path_regex", "^/v1.3/assets/"}, {"kind", "status"}, {"status", 503}, {"count", 1}});
  auto ready = Wait<gw::Asset>([&](auto done) { client_->GetAsset(opts_, asset_id, std::move(done)); });
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status(), gw::ASSET_STATUS_READY);
  EXPECT_EQ(ready->hls().status(), gw::ASSET_MEDIA_STATUS_READY);
  EXPECT_FALSE(ready->thumbnail().representative_url().empty());
  EXPECT_TRUE(ready->has_size_bytes());
  EXPECT_EQ(ready->technical_metadata().video_codec(), "h264");
  EXPECT_EQ(ready->user_metadata().fields().at("desk").string_value(), "news");
  json gets = Logged("/v1.3/assets/" + asset_id);
  ASSERT_EQ(gets.size(), 2u) << gets.dump();
  EXPECT_EQ(gets[0]["status"], 503);
  EXPECT_EQ(gets[1]["status"], 200);

  gw::ListAssetsRequest list;
  list.add_asset_ids(asset_id);
  list.add_asset_types(gw::ASSET_TYPE_VIDEO);
  list.set_filename("NEWS");
  auto page = Wait<AssetPage>([&](auto done) { client_->ListAssets(opts_, list, 1, 5, std::move(done)); });
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->assets.assets_size(), 1);
  EXPECT_EQ(page->assets.assets(0).id(), asset_id);
  EXPECT_EQ(page->assets.total_size(), 1);
  json listed = Logged("/v1.3/assets").back();
  EXPECT_EQ(listed["method"], "GET");
  EXPECT_EQ(listed["path"], "/v1.3/assets");

  // Index it, and follow it to ready.
  gw::IndexAssetRequest index;
  index.set_index_id(kIndex);
  index.set_asset_id(asset_id);
  index.set_enable_video_stream(true);
  (*index.mutable_user_metadata()->mutable_fields())["take"].set_number_value(2);
  auto created = Wait<CreatedIndexedAsset>([&](auto done) { client_->CreateIndexedAsset(opts_, index, std::move(done)); });
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->asset_id, asset_id);
  json posted = Logged("/indexed-assets").back();
  EXPECT_EQ(posted["method"], "POST");
  EXPECT_EQ(posted["path"], std::string("/v1.3/indexes/") + kIndex + "/indexed-assets");
  EXPECT_EQ(posted["json"], json({{"asset_id", asset_id}, {"enable_video_stream", true}, {"user_metadata", {{"take", 2}}}}));

  Advance(6);
  auto ia = Wait<gw::IndexedAsset>([&](auto done) { client_->GetIndexedAsset(opts_, kIndex, created->id, std::move(done)); });
  ASSERT_TRUE(ia.ok()) << ia.status();
  EXPECT_EQ(ia->status(), gw::INDEXED_ASSET_STATUS_READY);
  EXPECT_EQ(ia->index_id(), kIndex);
  EXPECT_TRUE(ia->has_index_time());
  EXPECT_EQ(ia->hls().status(), gw::HLS_STATUS_COMPLETE);
  EXPECT_EQ(ia->system_metadata().filename(), "news-clip.mp4");

  gw::ListIndexedAssetsRequest ilist;
  ilist.set_index_id(kIndex);
  ilist.add_statuses(gw::INDEXED_ASSET_STATUS_READY);
  ilist.mutable_duration_seconds()->set_min(0);
  ilist.mutable_width()->set_max(100000);
  (*ilist.mutable_user_metadata())["take"] = "2";
  auto ipage = Wait<IndexedAssetPage>([&](auto done) { client_->ListIndexedAssets(opts_, ilist, 1, 10, std::move(done)); });
  ASSERT_TRUE(ipage.ok()) << ipage.status();
  ASSERT_EQ(ipage->indexed_assets.indexed_assets_size(), 1);
  EXPECT_EQ(ipage->indexed_assets.indexed_assets(0).id(), created->id);
  json ilisted = Logged("/indexed-assets").back();
  EXPECT_EQ(ilisted["method"], "GET");
  EXPECT_EQ(ilisted["query"]["duration[gte]"], json::array({"0"})) << ilisted.dump();
  EXPECT_EQ(ilisted["query"]["width[lte]"], json::array({"100000"})) << ilisted.dump();
  EXPECT_EQ(ilisted["query"]["take"], json::array({"2"})) << ilisted.dump();

  // A referenced asset is not deleted without force.
  absl::Status refused = WaitStatus([&](auto done) { client_->DeleteAsset(opts_, asset_id, false, std::move(done)); });
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_EQ(Logged("/v1.3/assets/" + asset_id).back()["status"], 409);

  absl::Status deleted = WaitStatus(
      [&](auto done) { client_->DeleteIndexedAsset(opts_, kIndex, created->id, std::move(done)); });
  EXPECT_TRUE(deleted.ok()) << deleted;
  deleted = WaitStatus([&](auto done) { client_->DeleteAsset(opts_, asset_id, false, std::move(done)); });
  EXPECT_TRUE(deleted.ok()) << deleted;
  json del = Logged("/v1.3/assets/" + asset_id).back();
  EXPECT_EQ(del["method"], "DELETE");
  EXPECT_EQ(del["status"], 200);
  auto gone = Wait<gw::Asset>([&](auto done) { client_->GetAsset(opts_, asset_id, std::move(done)); });
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound) << gone.status();
}

TEST_F(AssetClientSimTest, ForcedDeleteSendsForce) {
  gw::CreateAssetRequest create;
  create.set_url("https://cdn.test/clip.mp4");
  auto asset = Wait<gw::Asset>([&](auto done) { client_->CreateAsset(opts_, create, std::move(done)); });
  ASSERT_TRUE(asset.ok()) << asset.status();
  Advance(2);
  gw::IndexAssetRequest index;
  index.set_index_id(kIndex);
  index.set_asset_id(asset->id());
  ASSERT_TRUE(Wait<CreatedIndexedAsset>([&](auto done) { client_->CreateIndexedAsset(opts_, index, std::move(done)); }).ok());
  absl::Status deleted = WaitStatus([&](auto done) { client_->DeleteAsset(opts_, asset->id(), true, std::move(done)); });
  EXPECT_TRUE(deleted.ok()) << deleted;
  json del = Logged("/v1.3/assets/" + asset->id()).back();
  EXPECT_EQ(del["method"], "DELETE");
  EXPECT_EQ(del["query"]["force"], json::array({"true"})) << del.dump();
}

}  // namespace
}  // namespace tlgw
