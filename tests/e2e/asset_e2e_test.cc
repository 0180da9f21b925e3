// AssetService end to end: the real gateway in front of the real simulator
// (API v1.3), every call checked against the REST requests the simulator
// received; and the v1.2 refusal.
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tests/e2e/harness.h"
#include "tests/support/grpc_details.h"
#include "twelvelabs/gateway/v1/asset_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

class AssetE2E : public E2EFixture<> {
 protected:
  // `fast`: watches poll every 0.1 to 0.2 s, so waits end quickly.
  void Launch(const std::string& version, bool fast = false) {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    GatewayArgs args;
    args.upstream_url = sim_.Url(version);
    if (fast) {
      args.extra_args = {absl::StrCat("--watch_interval_seconds=", kIntervalSeconds),
                         absl::StrCat("--watch_min_interval_seconds=", kMinIntervalSeconds)};
    }
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

  // The requests the simulator received whose method is `method` and
  // whose path is exactly `path`.
  int Count(const std::string& method, const std::string& path) {
    int n = 0;
    for (const auto& r : control_->Requests(path)) n += r["method"] == method && r["path"] == path;
    return n;
  }
  double Metric(const std::string& name) {
    auto text = HttpGet(gateway_.admin_port, "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? MetricValue(*text, name) : -1;
  }
  std::string CreateAsset(const std::string& url, const std::string& request_id = "") {
    gw::CreateAssetRequest req;
    req.set_url(url);
    req.set_request_id(request_id);
    gw::Asset a;
    grpc::Status s = assets_->CreateAsset(Ctx().get(), req, &a);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return a.id();
  }
  grpc::Status Index(const std::string& asset_id, gw::IndexedAsset* out,
                     absl::Duration timeout = absl::Seconds(30),
                     const std::string& request_id = "") {
    gw::IndexAssetRequest req;
    req.set_index_id(kSeedIndex);
    req.set_asset_id(asset_id);
    req.set_request_id(request_id);
    return assets_->IndexAsset(Ctx(timeout).get(), req, out);
  }
  // The calls by id: their status, the answer in `out` when one is given.
  grpc::Status GetAsset(const std::string& id, gw::Asset* out = nullptr) {
    gw::GetAssetRequest req;
    req.set_asset_id(id);
    gw::Asset ignored;
    return assets_->GetAsset(Ctx().get(), req, out != nullptr ? out : &ignored);
  }
  grpc::Status DeleteAsset(const std::string& id, bool force = false) {
    gw::DeleteAssetRequest req;
    req.set_asset_id(id);
    req.set_force(force);
    google::protobuf::Empty empty;
    return assets_->DeleteAsset(Ctx().get(), req, &empty);
  }
  grpc::Status GetIndexed(const std::string& index_id, const std::string& id, gw::IndexedAsset* out = nullptr) {
    gw::GetIndexedAssetRequest req;
    req.set_index_id(index_id);
    req.set_indexed_asset_id(id);
    gw::IndexedAsset ignored;
    return assets_->GetIndexedAsset(Ctx().get(), req, out != nullptr ? out : &ignored);
  }
  grpc::Status DeleteIndexed(const std::string& index_id, const std::string& id) {
    gw::DeleteIndexedAssetRequest req;
    req.set_index_id(index_id);
    req.set_indexed_asset_id(id);
    google::protobuf::Empty empty;
    return assets_->DeleteIndexedAsset(Ctx().get(), req, &empty);
  }
  // Watches to the end: the stream's status, its events in `events` when given.
  grpc::Status WatchAsset(const std::string& id, std::vector<gw::AssetEvent>* events = nullptr) {
    gw::WatchAssetRequest req;
    req.set_asset_id(id);
    auto ctx = Ctx();
    return ReadToEnd(assets_->WatchAsset(ctx.get(), req), events);
  }
  grpc::Status WatchIndexed(const std::string& index_id, const std::string& id, int64_t resume_after = 0,
                            std::vector<gw::IndexedAssetEvent>* events = nullptr) {
    gw::WatchIndexedAssetRequest req;
    req.set_index_id(index_id);
    req.set_indexed_asset_id(id);
    req.set_resume_after(resume_after);
    auto ctx = Ctx();
    return ReadToEnd(assets_->WatchIndexedAsset(ctx.get(), req), events);
  }
  template <typename Event>
  static grpc::Status ReadToEnd(std::unique_ptr<grpc::ClientReader<Event>> stream, std::vector<Event>* events) {
    Event e;
    while (stream->Read(&e)) {
      if (events != nullptr) events->push_back(e);
    }
    return stream->Finish();
  }

  static constexpr double kIntervalSeconds = 0.2;
  static constexpr double kMinIntervalSeconds = 0.1;
  std::unique_ptr<gw::AssetService::Stub> assets_;
};

const std::string kIndexedAssets = std::string("/v1.3/indexes/") + kSeedIndex + "/indexed-assets";

TEST_F(AssetE2E, CreateGetListIndexGetIndexedAndDelete) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3"));
  control_->ClearRequests();

  gw::CreateAssetRequest create;
  create.set_url("https://cdn.example.com/media/e2e-clip.mp4");
  create.set_filename("e2e-clip.mp4");
  create.set_enable_thumbnail(true);
  create.set_enable_hls(false);
  (*create.mutable_user_metadata()->mutable_fields())["team"].set_string_value("news");
  (*create.mutable_user_metadata()->mutable_fields())["take"].set_number_value(3);
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
  EXPECT_EQ(post["form"]["enable_hls"], "false") << post.dump();
  // A string holding a JSON object on this endpoint (§9.1).
  EXPECT_EQ(json::parse(post["form"]["user_metadata"].get<std::string>()),
            json({{"team", "news"}, {"take", 3}}))
      << post.dump();

  control_->AdvanceClock(5);  // one processing stage
  gw::Asset ready;
  s = GetAsset(asset.id(), &ready);
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
  index.set_enable_video_stream(true);
  (*index.mutable_user_metadata()->mutable_fields())["team"].set_string_value("news");
  gw::IndexedAsset indexed;
  s = assets_->IndexAsset(Ctx().get(), index, &indexed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(indexed.asset_id(), asset.id());
  EXPECT_EQ(indexed.index_id(), kSeedIndex);
  EXPECT_EQ(indexed.status(), gw::INDEXED_ASSET_STATUS_PENDING);
  json created = control_->Requests();
  control_->ClearRequests();
  // The asset's readiness (one read, it is ready), the create, the read.
  ASSERT_EQ(created.size(), 3u) << created.dump();
  const std::string ia_path = std::string("/v1.3/indexes/") + kSeedIndex + "/indexed-assets";
  EXPECT_EQ(created[0]["method"], "GET");
  EXPECT_EQ(created[0]["path"], "/v1.3/assets/" + asset.id());
  EXPECT_EQ(created[1]["method"], "POST");
  EXPECT_EQ(created[1]["path"], ia_path);
  EXPECT_EQ(created[1]["json"]["asset_id"], asset.id()) << created.dump();
  EXPECT_EQ(created[1]["json"]["enable_video_stream"], true) << created.dump();
  EXPECT_EQ(created[1]["json"]["user_metadata"], json({{"team", "news"}}))
      << "an object here" << created.dump();
  EXPECT_EQ(created[2]["method"], "GET");
  EXPECT_EQ(created[2]["path"], ia_path + "/" + indexed.id());

  gw::IndexedAsset got;
  s = GetIndexed(kSeedIndex, indexed.id(), &got);
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
    std::vector<gw::IndexedAssetEvent> events;
    grpc::Status end = WatchIndexed(kSeedIndex, indexed.id(), 0, &events);
    EXPECT_TRUE(end.ok()) << end.error_message();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().indexed_asset().status(), gw::INDEXED_ASSET_STATUS_READY);
    EXPECT_EQ(events.back().source(), gw::EVENT_SOURCE_SNAPSHOT);
  }
  {
    std::vector<gw::AssetEvent> events;
    EXPECT_TRUE(WatchAsset(asset.id(), &events).ok());
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].asset().status(), gw::ASSET_STATUS_READY);
  }
  json watched = control_->Requests();
  control_->ClearRequests();
  ASSERT_EQ(watched.size(), 2u) << watched.dump();
  EXPECT_EQ(watched[0]["path"], ia_path + "/" + indexed.id());
  EXPECT_EQ(watched[1]["path"], "/v1.3/assets/" + asset.id());

  // Still indexed: upstream's 409 becomes FAILED_PRECONDITION saying how
  // to proceed.
  s = DeleteAsset(asset.id());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "force")) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), std::string(kSeedIndex) + "/" + indexed.id()))
      << "names the blocker: " << s.error_message();
  ASSERT_TRUE(tlgw::ErrorInfoOf(s).has_value());
  EXPECT_EQ(tlgw::ErrorInfoOf(s)->reason(), "ASSET_IN_USE");
  {
    json blocked = control_->Requests();
    control_->ClearRequests();
    ASSERT_EQ(blocked.size(), 2u) << blocked.dump();
    EXPECT_EQ(blocked[0]["method"], "DELETE");
    EXPECT_EQ(blocked[0]["path"], "/v1.3/assets/" + asset.id());
    EXPECT_EQ(blocked[1]["method"], "GET");
    EXPECT_EQ(blocked[1]["path"], "/v1.3/assets/" + asset.id() + "/indexed-assets");
  }

  s = DeleteIndexed(kSeedIndex, indexed.id());
  ASSERT_TRUE(s.ok()) << s.error_message();
  Only("DELETE", ia_path + "/" + indexed.id());

  s = DeleteAsset(asset.id());
  ASSERT_TRUE(s.ok()) << s.error_message();
  json deleted = Only("DELETE", "/v1.3/assets/" + asset.id());
  EXPECT_FALSE(deleted["query"].contains("force")) << deleted.dump();
  s = GetAsset(asset.id());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
}

TEST_F(AssetE2E, IndexAssetWaitsForTheAssetOnOneSharedPoll) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3", /*fast=*/true));
  const std::string id = CreateAsset("https://cdn.example.com/media/wait.mp4");
  control_->ClearRequests();
  const std::string asset_path = "/v1.3/assets/" + id;
  constexpr int kCallers = 5;
  const absl::Time start = absl::Now();
  std::vector<grpc::Status> status(kCallers);
  std::vector<gw::IndexedAsset> indexed(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] { status[i] = Index(id, &indexed[i]); });
  }
  ASSERT_TRUE(Eventually([&] { return Count("GET", asset_path) >= 5; }, "the asset to be polled"));
  EXPECT_EQ(Count("POST", kIndexedAssets), 0) << "nothing is indexed while the asset processes";
  control_->AdvanceClock(5);  // processing -> ready
  for (auto& t : callers) t.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  for (int i = 0; i < kCallers; ++i) {
    ASSERT_TRUE(status[i].ok()) << status[i].error_message();
    EXPECT_EQ(indexed[i].asset_id(), id);
  }
  EXPECT_EQ(Count("POST", kIndexedAssets), kCallers);
  // One poll per interval for all the callers (plus the first read); five
  // private loops would make five times as many.
  const int gets = Count("GET", asset_path);
  RecordProperty("asset_gets", gets);
  RecordProperty("elapsed_ms", static_cast<int>(elapsed * 1000));
  EXPECT_LE(gets, static_cast<int>(elapsed / kMinIntervalSeconds) + 2)
      << gets << " GETs in " << elapsed << " s";
  EXPECT_GE(Metric("tl_gateway_watch_polls_saved_total{kind=\"asset\"}"), kCallers - 1);
  EXPECT_EQ(Metric("tl_gateway_watch_subscribers{kind=\"asset\"}"), 0) << "every wait let go";
}

TEST_F(AssetE2E, IndexAssetOfAFailedAssetNamesUpstreamsReasonAndIndexesNothing) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3", /*fast=*/true));
  const std::string id = CreateAsset("https://cdn.example.com/media/broken.mp4");
  control_->AdvanceClock(5);  // processing -> failed
  control_->ClearRequests();
  gw::IndexedAsset ia;
  grpc::Status s = Index(id, &ia);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  auto info = tlgw::ErrorInfoOf(s);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "ASSET_FAILED");
  EXPECT_FALSE(info->metadata().at("asset_error").empty()) << "upstream's message is passed on";
  EXPECT_EQ(Count("POST", kIndexedAssets), 0);
  EXPECT_EQ(Count("GET", "/v1.3/assets/" + id), 1);
}

TEST_F(AssetE2E, IndexAssetAnswersBeforeTheDeadlineWhileTheAssetProcesses) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3", /*fast=*/true));
  const std::string id = CreateAsset("https://cdn.example.com/media/slow.mp4");
  control_->ClearRequests();
  gw::IndexedAsset ia;
  grpc::Status s = Index(id, &ia, absl::Seconds(5));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  auto info = tlgw::ErrorInfoOf(s);
  ASSERT_TRUE(info.has_value()) << "the gateway's own answer, not gRPC's: " << s.error_message();
  EXPECT_EQ(info->reason(), "ASSET_NOT_READY");
  EXPECT_TRUE(absl::StrContains(s.error_message(), "still processing")) << s.error_message();
  EXPECT_EQ(Count("POST", kIndexedAssets), 0);
  EXPECT_TRUE(
      Eventually([&] { return Metric("tl_gateway_watch_subscribers{kind=\"asset\"}") == 0; },
                 "the wait to let go"));
}

TEST_F(AssetE2E, ARequestIdMakesOneUpstreamCreate) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3"));
  control_->ClearRequests();
  const std::string first = CreateAsset("https://cdn.example.com/media/once.mp4", "e2e-asset-once");
  const std::string again = CreateAsset("https://cdn.example.com/media/once.mp4", "e2e-asset-once");
  EXPECT_EQ(again, first);
  EXPECT_EQ(Count("POST", "/v1.3/assets"), 1);
  EXPECT_EQ(Count("GET", "/v1.3/assets/" + first), 1) << "the repeat reads the asset fresh";

  control_->AdvanceClock(5);
  gw::IndexedAsset a, b;
  grpc::Status s = Index(first, &a, absl::Seconds(30), "e2e-index-once");
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = Index(first, &b, absl::Seconds(30), "e2e-index-once");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(b.id(), a.id());
  EXPECT_EQ(Count("POST", kIndexedAssets), 1);
}

// A watch of one indexed asset, on the callback API.
class IndexedWatcher : public grpc::ClientReadReactor<gw::IndexedAssetEvent> {
 public:
  IndexedWatcher(gw::AssetService::Stub* stub, const std::string& id) {
    req_.set_index_id(kSeedIndex);
    req_.set_indexed_asset_id(id);
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    stub->async()->WatchIndexedAsset(&ctx_, &req_, this);
    StartRead(&event_);
    StartCall();
  }
  ~IndexedWatcher() override {
    ctx_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Seconds(10));
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      statuses_.push_back(event_.indexed_asset().status_text());
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& s) override {
    absl::MutexLock lock(&mu_);
    status_ = s;
    done_ = true;
  }
  std::string last() {
    absl::MutexLock lock(&mu_);
    return statuses_.empty() ? "" : statuses_.back();
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  grpc::ClientContext ctx_;
  gw::WatchIndexedAssetRequest req_;
  gw::IndexedAssetEvent event_;
  absl::Mutex mu_;
  std::vector<std::string> statuses_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

TEST_F(AssetE2E, HundredWatchersOfOneIndexedAssetShareOnePollPerInterval) {
  constexpr int kWatchers = 100;
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3", /*fast=*/true));
  const std::string asset = CreateAsset("https://cdn.example.com/media/hundred.mp4");
  control_->AdvanceClock(5);
  gw::IndexedAsset ia;
  grpc::Status s = Index(asset, &ia);
  ASSERT_TRUE(s.ok()) << s.error_message();
  control_->ClearRequests();
  const std::string path = kIndexedAssets + "/" + ia.id();
  const absl::Time start = absl::Now();
  std::vector<std::unique_ptr<IndexedWatcher>> watchers;
  for (int i = 0; i < kWatchers; ++i)
    watchers.push_back(std::make_unique<IndexedWatcher>(assets_.get(), ia.id()));
  // pending -> queued -> indexing -> ready, 2 s of the simulator's clock each.
  for (const char* stage : {"pending", "queued", "indexing", "ready"}) {
    ASSERT_TRUE(Eventually(
        [&] {
          for (auto& w : watchers) {
            if (w->last() != stage) return false;
          }
          return true;
        },
        absl::StrCat("every watcher to see ", stage)));
    if (std::string(stage) != "ready") control_->AdvanceClock(2);
  }
  for (auto& w : watchers) {
    ASSERT_TRUE(Eventually([&] { return w->done(); }, "the watch to end"));
    EXPECT_TRUE(w->status().ok()) << w->status().error_message();
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const int gets = Count("GET", path);
  RecordProperty("indexed_asset_gets", gets);
  RecordProperty("elapsed_ms", static_cast<int>(elapsed * 1000));
  EXPECT_LE(gets, static_cast<int>(elapsed / kMinIntervalSeconds) + 2)
      << gets << " GETs in " << elapsed << " s";
  EXPECT_GE(Metric("tl_gateway_watch_polls_saved_total{kind=\"indexed_asset\"}"), kWatchers - 1);
}

TEST_F(AssetE2E, ListsSendEveryFilterAndPage) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3"));
  const std::string a1 = CreateAsset("https://cdn.example.com/media/list-one.mp4");
  const std::string a2 = CreateAsset("https://cdn.example.com/media/list-two.mp4");
  CreateAsset("https://cdn.example.com/media/list-three.mp4");
  control_->ClearRequests();

  gw::ListAssetsRequest list;
  list.add_asset_ids(a1);
  list.add_asset_ids(a2);
  list.add_asset_types(gw::ASSET_TYPE_VIDEO);
  list.add_asset_types(gw::ASSET_TYPE_AUDIO);
  list.set_filename("LIST-");
  list.set_page_size(1);
  gw::ListAssetsResponse page1, page2;
  grpc::Status s = assets_->ListAssets(Ctx().get(), list, &page1);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(page1.assets_size(), 1);
  EXPECT_EQ(page1.assets(0).id(), a2) << "newest first";
  EXPECT_EQ(page1.total_size(), 2);
  ASSERT_FALSE(page1.next_page_token().empty());
  json q = Only("GET", "/v1.3/assets")["query"];
  EXPECT_EQ(q["asset_ids"], json::array({a1, a2})) << q.dump();
  EXPECT_EQ(q["asset_types"], json::array({"video", "audio"})) << q.dump();
  EXPECT_EQ(q["filename"], json::array({"LIST-"})) << q.dump();
  EXPECT_EQ(q["page"], json::array({"1"})) << q.dump();
  EXPECT_EQ(q["page_limit"], json::array({"1"})) << q.dump();
  list.set_page_token(page1.next_page_token());
  s = assets_->ListAssets(Ctx().get(), list, &page2);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(page2.assets_size(), 1);
  EXPECT_EQ(page2.assets(0).id(), a1);
  EXPECT_TRUE(page2.next_page_token().empty());
  EXPECT_EQ(Only("GET", "/v1.3/assets")["query"]["page"], json::array({"2"}));

  gw::ListIndexedAssetsRequest ilist;
  ilist.set_index_id(kSeedIndex);
  ilist.add_statuses(gw::INDEXED_ASSET_STATUS_READY);
  ilist.add_statuses(gw::INDEXED_ASSET_STATUS_INDEXING);
  ilist.set_filename("list-one.mp4");
  ilist.mutable_duration_seconds()->set_min(1);
  ilist.mutable_duration_seconds()->set_max(3600.5);
  ilist.mutable_fps()->set_equal(25);
  ilist.mutable_width()->set_min(640);
  ilist.mutable_height()->set_max(2160);
  ilist.mutable_size_bytes()->set_min(1);
  ilist.mutable_create_time()->mutable_on_day_from()->set_seconds(1767225600);  // 2026-01-01
  ilist.mutable_update_time()->mutable_start_time()->set_seconds(1767225600);
  ilist.mutable_update_time()->mutable_end_time()->set_seconds(1767312000);
  ilist.set_sort_by(gw::INDEXED_ASSET_SORT_FIELD_UPDATE_TIME);
  ilist.set_sort_order(gw::SORT_ORDER_ASCENDING);
  (*ilist.mutable_user_metadata())["team"] = "news";
  ilist.set_page_size(7);
  gw::ListIndexedAssetsResponse ilisted;
  s = assets_->ListIndexedAssets(Ctx().get(), ilist, &ilisted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  json iq = Only("GET", kIndexedAssets)["query"];
  const json expected = {
      {"page", {"1"}},
      {"page_limit", {"7"}},
      {"sort_by", {"updated_at"}},
      {"sort_option", {"asc"}},
      {"status", {"ready", "indexing"}},
      {"filename", {"list-one.mp4"}},
      {"duration[gte]", {"1"}},
      {"duration[lte]", {"3600.5"}},
      {"fps", {"25"}},
      {"width[gte]", {"640"}},
      {"height[lte]", {"2160"}},
      {"size[gte]", {"1"}},
      {"created_at", {"2026-01-01T00:00:00.000Z"}},
      {"updated_at[gte]", {"2026-01-01T00:00:00.000Z"}},
      {"updated_at[lte]", {"2026-01-02T00:00:00.000Z"}},
      {"team", {"news"}},
  };
  EXPECT_EQ(iq, expected) << iq.dump();
}

TEST_F(AssetE2E, DeleteWithForceAndDeleteIndexedAsset) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3"));
  const std::string asset = CreateAsset("https://cdn.example.com/media/forced.mp4");
  control_->AdvanceClock(5);
  gw::IndexedAsset ia;
  ASSERT_TRUE(Index(asset, &ia).ok());
  control_->ClearRequests();
  grpc::Status s = DeleteAsset(asset, /*force=*/true);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Only("DELETE", "/v1.3/assets/" + asset)["query"]["force"], json::array({"true"}));
  s = DeleteIndexed(kSeedIndex, ia.id());
  ASSERT_TRUE(s.ok()) << s.error_message();
  Only("DELETE", kIndexedAssets + "/" + ia.id());
  s = DeleteIndexed(kSeedIndex, ia.id());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
}

TEST_F(AssetE2E, WatchAssetFollowsProcessingToReady) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3", /*fast=*/true));
  const std::string id = CreateAsset("https://cdn.example.com/media/watched.mp4");
  control_->ClearRequests();
  gw::WatchAssetRequest req;
  req.set_asset_id(id);
  auto ctx = Ctx();
  auto stream = assets_->WatchAsset(ctx.get(), req);
  gw::AssetEvent e;
  ASSERT_TRUE(stream->Read(&e));
  EXPECT_EQ(e.asset().status(), gw::ASSET_STATUS_PROCESSING);
  EXPECT_EQ(e.source(), gw::EVENT_SOURCE_SNAPSHOT);
  control_->AdvanceClock(5);
  ASSERT_TRUE(stream->Read(&e));
  EXPECT_EQ(e.asset().status(), gw::ASSET_STATUS_READY);
  EXPECT_EQ(e.source(), gw::EVENT_SOURCE_POLL);
  EXPECT_FALSE(stream->Read(&e));
  grpc::Status end = stream->Finish();
  EXPECT_TRUE(end.ok()) << end.error_message();
  for (const auto& r : control_->Requests()) {
    EXPECT_EQ(r["method"], "GET");
    EXPECT_EQ(r["path"], "/v1.3/assets/" + id);
  }
}

TEST_F(AssetE2E, BadInputIsAnsweredBeforeAnyRequest) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.3"));
  control_->ClearRequests();
  const std::string bad_id = "not-an-id";
  std::vector<std::pair<std::string, grpc::Status>> got;
  {
    gw::CreateAssetRequest r;
    r.set_url("ftp://cdn.example.com/x.mp4");
    gw::Asset a;
    got.emplace_back("CreateAsset url", assets_->CreateAsset(Ctx().get(), r, &a));
    r.set_url("https://cdn.example.com/x.mp4");
    r.set_request_id("has space");
    got.emplace_back("CreateAsset request_id", assets_->CreateAsset(Ctx().get(), r, &a));
  }
  got.emplace_back("GetAsset", GetAsset(bad_id));
  {
    gw::ListAssetsRequest r;
    r.set_page_size(51);
    gw::ListAssetsResponse l;
    got.emplace_back("ListAssets page_size", assets_->ListAssets(Ctx().get(), r, &l));
    r.set_page_size(0);
    r.set_page_token("garbage");
    got.emplace_back("ListAssets page_token", assets_->ListAssets(Ctx().get(), r, &l));
  }
  got.emplace_back("DeleteAsset", DeleteAsset(bad_id));
  gw::IndexedAsset ia;
  got.emplace_back("IndexAsset", Index(bad_id, &ia));
  got.emplace_back("GetIndexedAsset", GetIndexed(kSeedIndex, ""));
  {
    gw::ListIndexedAssetsRequest r;
    r.set_index_id(kSeedIndex);
    r.mutable_fps()->set_min(30);
    r.mutable_fps()->set_max(24);
    gw::ListIndexedAssetsResponse l;
    got.emplace_back("ListIndexedAssets range", assets_->ListIndexedAssets(Ctx().get(), r, &l));
    r.clear_fps();
    (*r.mutable_user_metadata())["status"] = "x";
    got.emplace_back("ListIndexedAssets metadata", assets_->ListIndexedAssets(Ctx().get(), r, &l));
  }
  got.emplace_back("DeleteIndexedAsset", DeleteIndexed(bad_id, kSeedIndex));
  got.emplace_back("WatchAsset", WatchAsset(bad_id));
  got.emplace_back("WatchIndexedAsset", WatchIndexed(kSeedIndex, kSeedIndex, /*resume_after=*/-1));
  for (const auto& [what, s] : got) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << what << ": " << s.error_message();
    EXPECT_FALSE(tlgw::BadFieldsOf(s).empty()) << what << " names no field";
  }
  EXPECT_TRUE(control_->Requests().empty()) << control_->Requests().dump();
}

TEST_F(AssetE2E, OnV12EveryMethodNamesV13WithoutARequest) {
  ASSERT_NO_FATAL_FAILURE(Launch("v1.2"));
  control_->ClearRequests();
  const std::string id = "0123456789abcdef01234567";
  std::vector<std::pair<std::string, grpc::Status>> got;
  gw::Asset asset;
  gw::IndexedAsset ia;
  {
    gw::CreateAssetRequest r;
    r.set_url("https://cdn.example.com/x.mp4");
    got.emplace_back("CreateAsset", assets_->CreateAsset(Ctx().get(), r, &asset));
  }
  got.emplace_back("GetAsset", GetAsset(id));
  {
    gw::ListAssetsResponse l;
    got.emplace_back("ListAssets", assets_->ListAssets(Ctx().get(), gw::ListAssetsRequest(), &l));
  }
  got.emplace_back("DeleteAsset", DeleteAsset(id));
  got.emplace_back("IndexAsset", Index(id, &ia));
  got.emplace_back("GetIndexedAsset", GetIndexed(kSeedIndex, id));
  {
    gw::ListIndexedAssetsRequest r;
    r.set_index_id(kSeedIndex);
    gw::ListIndexedAssetsResponse l;
    got.emplace_back("ListIndexedAssets", assets_->ListIndexedAssets(Ctx().get(), r, &l));
  }
  got.emplace_back("DeleteIndexedAsset", DeleteIndexed(kSeedIndex, id));
  got.emplace_back("WatchAsset", WatchAsset(id));
  got.emplace_back("WatchIndexedAsset", WatchIndexed(kSeedIndex, id));
  for (const auto& [what, s] : got) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << what << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "v1.3")) << what << ": " << s.error_message();
  }
  EXPECT_TRUE(control_->Requests().empty()) << control_->Requests().dump();
}

}  // namespace
}  // namespace tltest
