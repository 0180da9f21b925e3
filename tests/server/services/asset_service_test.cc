// AssetService in process: the real gRPC server and stub, the fake
// upstream and a fake clock (service_harness.h).
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "server/services/create_flow.h"
#include "tests/server/services/service_harness.h"

namespace tlgw::testing {
namespace {

using Harness = ServiceHarness;
using AssetWatch = WatchReader<gw::AssetEvent>;
using IndexedWatch = WatchReader<gw::IndexedAssetEvent>;

constexpr char kAssetReaderToken[] = "tlgw_asset_reader_token";
constexpr char kUnknownAsset[] = "ffffffffffffffffffffffff";

// DefaultConfig plus a media client allowed some AssetService methods, on
// index kIndexA only.
GatewayConfig WithAssetReader(GatewayConfig c) {
  ClientConfig r = Client("asset-reader", kAssetReaderToken, "media",
                          {"AssetService.GetAsset", "AssetService.ListAssets", "AssetService.IndexAsset",
                           "AssetService.GetIndexedAsset", "AssetService.ListIndexedAssets",
                           "AssetService.DeleteIndexedAsset", "AssetService.WatchIndexedAsset"});
  r.indexes = {kIndexA};
  c.clients.push_back(r);
  return c;
}

gw::Asset ReadyAsset(const std::string& id, int64_t created = 1767225600) {
  gw::Asset a;
  a.set_id(id);
  a.set_status(gw::ASSET_STATUS_READY);
  a.set_status_text("ready");
  a.set_filename(absl::StrCat(id, ".mp4"));
  a.set_file_type("video/mp4");
  a.mutable_create_time()->set_seconds(created);
  return a;
}

class AssetServiceTest : public ::testing::Test {
 protected:
  explicit AssetServiceTest(GatewayConfig config = WithAssetReader(DefaultConfig()),
                            ApiVersion version = ApiVersion::kV1_3)
      : h_(std::move(config), WatchOptions(), version) {}

  grpc::Status Create(const std::string& token, const gw::CreateAssetRequest& req, gw::Asset* out) {
    return h_.assets()->CreateAsset(Harness::Ctx(token).get(), req, out);
  }
  // An asset created through the gateway by `token`'s tenant, then made
  // ready upstream.
  std::string CreateReady(const std::string& token) {
    gw::CreateAssetRequest req;
    req.set_url("https://cdn.example.com/clip.mp4");
    gw::Asset a;
    grpc::Status s = Create(token, req, &a);
    EXPECT_TRUE(s.ok()) << Describe(s);
    gw::Asset ready = *h_.api().asset(a.id());
    ready.set_status(gw::ASSET_STATUS_READY);
    h_.api().PutAsset(ready);
    return a.id();
  }
  grpc::Status GetAsset(const std::string& token, const std::string& id, gw::Asset* out = nullptr) {
    gw::GetAssetRequest req;
    req.set_asset_id(id);
    gw::Asset a;
    return h_.assets()->GetAsset(Harness::Ctx(token).get(), req, out != nullptr ? out : &a);
  }
  grpc::Status DeleteAsset(const std::string& token, const std::string& id, bool force = false) {
    gw::DeleteAssetRequest req;
    req.set_asset_id(id);
    req.set_force(force);
    google::protobuf::Empty e;
    return h_.assets()->DeleteAsset(Harness::Ctx(token).get(), req, &e);
  }
  grpc::Status ListAssets(const std::string& token, const gw::ListAssetsRequest& req, gw::ListAssetsResponse* out) {
    return h_.assets()->ListAssets(Harness::Ctx(token).get(), req, out);
  }
  grpc::Status Index(const std::string& token, const std::string& index_id, const std::string& asset_id,
                     gw::IndexedAsset* out = nullptr) {
    gw::IndexAssetRequest req;
    req.set_index_id(index_id);
    req.set_asset_id(asset_id);
    gw::IndexedAsset ia;
    return h_.assets()->IndexAsset(Harness::Ctx(token).get(), req, out != nullptr ? out : &ia);
  }
  grpc::Status GetIndexed(const std::string& token, const std::string& index_id, const std::string& id,
                          gw::IndexedAsset* out = nullptr) {
    gw::GetIndexedAssetRequest req;
    req.set_index_id(index_id);
    req.set_indexed_asset_id(id);
    gw::IndexedAsset ia;
    return h_.assets()->GetIndexedAsset(Harness::Ctx(token).get(), req, out != nullptr ? out : &ia);
  }
  grpc::Status DeleteIndexed(const std::string& token, const std::string& index_id, const std::string& id) {
    gw::DeleteIndexedAssetRequest req;
    req.set_index_id(index_id);
    req.set_indexed_asset_id(id);
    google::protobuf::Empty e;
    return h_.assets()->DeleteIndexedAsset(Harness::Ctx(token).get(), req, &e);
  }
  grpc::Status ListIndexed(const std::string& token, const gw::ListIndexedAssetsRequest& req,
                           gw::ListIndexedAssetsResponse* out) {
    return h_.assets()->ListIndexedAssets(Harness::Ctx(token).get(), req, out);
  }
  int Calls() { return static_cast<int>(h_.api().calls().size()); }
  std::unique_ptr<AssetWatch> WatchAsset(const std::string& token, const std::string& id) {
    gw::WatchAssetRequest req;
    req.set_asset_id(id);
    auto* stub = h_.assets();
    return std::make_unique<AssetWatch>(Harness::Ctx(token, absl::Seconds(30)),
                                        [stub, req](grpc::ClientContext* ctx) { return stub->WatchAsset(ctx, req); });
  }
  std::unique_ptr<IndexedWatch> WatchIndexed(const std::string& token, const std::string& index_id,
                                             const std::string& id) {
    gw::WatchIndexedAssetRequest req;
    req.set_index_id(index_id);
    req.set_indexed_asset_id(id);
    auto* stub = h_.assets();
    return std::make_unique<IndexedWatch>(Harness::Ctx(token, absl::Seconds(30)), [stub, req](grpc::ClientContext* ctx) {
      return stub->WatchIndexedAsset(ctx, req);
    });
  }

  // An asset created through the gateway by `token`'s tenant, still
  // processing upstream.
  std::string CreateProcessing(const std::string& token,
                               const std::string& url = "https://cdn.example.com/slow.mp4") {
    gw::CreateAssetRequest req;
    req.set_url(url);
    gw::Asset a;
    grpc::Status s = Create(token, req, &a);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return a.id();
  }
  void SetAssetStatus(const std::string& id, gw::AssetStatus status, const std::string& text,
                      const std::string& error = "") {
    gw::Asset a = *h_.api().asset(id);
    a.set_status(status);
    a.set_status_text(text);
    a.set_error_message(error);
    h_.api().PutAsset(a);
  }
  // An IndexAsset in flight on the callback API, so the test can move the
  // clock and the upstream while it waits.
  struct PendingIndex {
    std::unique_ptr<grpc::ClientContext> ctx;
    gw::IndexAssetRequest req;
    gw::IndexedAsset resp;
    grpc::Status status;
    absl::Notification done;
    bool Wait() { return done.WaitForNotificationWithTimeout(absl::Seconds(10)); }
    ~PendingIndex() {
      ctx->TryCancel();
      done.WaitForNotificationWithTimeout(absl::Seconds(10));
    }
  };
  std::unique_ptr<PendingIndex> StartIndex(const std::string& token, const std::string& asset_id,
                                           absl::Duration timeout = absl::Seconds(60),
                                           const std::string& request_id = "") {
    auto p = std::make_unique<PendingIndex>();
    p->ctx = Harness::Ctx(token, timeout);
    p->req.set_index_id(kIndexA);
    p->req.set_asset_id(asset_id);
    p->req.set_request_id(request_id);
    PendingIndex* raw = p.get();
    h_.assets()->async()->IndexAsset(raw->ctx.get(), &raw->req, &raw->resp, [raw](grpc::Status st) {
      raw->status = std::move(st);
      raw->done.Notify();
    });
    return p;
  }

  Harness h_;
};

TEST_F(AssetServiceTest, CreateAssetMapsTheRequestWithTheTenantsKey) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/a/clip.mp4");
  req.set_filename("clip.mp4");
  req.set_enable_hls(true);
  (*req.mutable_user_metadata()->mutable_fields())["team"].set_string_value("news");
  gw::Asset a;
  grpc::Status s = Create(kMediaToken, req, &a);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(a.status(), gw::ASSET_STATUS_PROCESSING);
  EXPECT_EQ(a.filename(), "clip.mp4");
  auto calls = h_.api().calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "CreateAsset");
  EXPECT_EQ(calls[0].opts.api_key, kMediaKey);
  const auto& sent = static_cast<const gw::CreateAssetRequest&>(*calls[0].request);
  EXPECT_EQ(sent.url(), req.url());
  EXPECT_TRUE(sent.enable_hls());
  EXPECT_EQ(sent.user_metadata().fields().at("team").string_value(), "news");
  auto owner = h_.store().Owner(a.id());
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(*owner, "media");
}

TEST_F(AssetServiceTest, CreateAssetValidationMakesNoUpstreamCall) {
  struct Case {
    std::string url, filename, request_id, field;
  };
  for (const Case& c : {Case{"", "", "", "url"}, Case{"ftp://x/y.mp4", "", "", "url"},
                        Case{"https://cdn.example.com/a b.mp4", "", "", "url"},
                        Case{"https://cdn.example.com/c.mp4", "a/b.mp4", "", "filename"},
                        Case{"https://cdn.example.com/c.mp4", "", "retry 1", "request_id"}}) {
    gw::CreateAssetRequest req;
    req.set_url(c.url);
    req.set_filename(c.filename);
    req.set_request_id(c.request_id);
    gw::Asset a;
    grpc::Status s = Create(kMediaToken, req, &a);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.url << " " << Describe(s);
    EXPECT_EQ(BadFieldsOf(s), std::vector<std::string>{c.field}) << Describe(s);
  }
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/c.mp4");
  (*req.mutable_user_metadata()->mutable_fields())["nested"].mutable_struct_value();
  gw::Asset a;
  EXPECT_EQ(Create(kMediaToken, req, &a).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Calls(), 0);
}

TEST_F(AssetServiceTest, IdsAreValidatedBeforeAnyUpstreamCall) {
  EXPECT_EQ(GetAsset(kMediaToken, "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetAsset(kMediaToken, "not-an-id").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DeleteAsset(kMediaToken, "ABCDEF0123456789ABCDEF01").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Index(kMediaToken, "x", kUnknownAsset).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Index(kMediaToken, kIndexA, "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetIndexed(kMediaToken, kIndexA, "12").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DeleteIndexed(kMediaToken, "", kUnknownAsset).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  gw::IndexAssetRequest ireq;
  ireq.set_index_id(kIndexA);
  ireq.set_asset_id(kUnknownAsset);
  ireq.set_request_id("r/1");
  gw::IndexedAsset ia;
  grpc::Status s = h_.assets()->IndexAsset(Harness::Ctx(kMediaToken).get(), ireq, &ia);
  EXPECT_EQ(BadFieldsOf(s), std::vector<std::string>{"request_id"}) << Describe(s);
  EXPECT_EQ(Calls(), 0);
}

TEST_F(AssetServiceTest, ListValidationMakesNoUpstreamCall) {
  gw::ListAssetsResponse aresp;
  gw::ListAssetsRequest areq;
  areq.add_asset_ids("nope");
  EXPECT_EQ(BadFieldsOf(ListAssets(kMediaToken, areq, &aresp)), std::vector<std::string>{"asset_ids[0]"});
  areq.Clear();
  areq.add_asset_types(gw::ASSET_TYPE_UNSPECIFIED);
  EXPECT_EQ(BadFieldsOf(ListAssets(kMediaToken, areq, &aresp)), std::vector<std::string>{"asset_types[0]"});
  areq.Clear();
  areq.set_page_size(51);
  EXPECT_EQ(BadFieldsOf(ListAssets(kMediaToken, areq, &aresp)), std::vector<std::string>{"page_size"});

  gw::ListIndexedAssetsResponse iresp;
  auto bad = [&](const gw::ListIndexedAssetsRequest& r) { return BadFieldsOf(ListIndexed(kMediaToken, r, &iresp)); };
  gw::ListIndexedAssetsRequest ireq;
  EXPECT_EQ(bad(ireq), std::vector<std::string>{"index_id"});
  ireq.set_index_id(kIndexA);
  ireq.add_statuses(gw::INDEXED_ASSET_STATUS_OTHER);
  EXPECT_EQ(bad(ireq), std::vector<std::string>{"statuses[0]"});
  ireq.clear_statuses();
  ireq.mutable_fps()->set_equal(25);
  ireq.mutable_fps()->set_min(24);
  EXPECT_EQ(bad(ireq), std::vector<std::string>{"fps"});
  ireq.clear_fps();
  ireq.mutable_width()->set_min(-1);
  EXPECT_EQ(bad(ireq), std::vector<std::string>{"width.min"});
  ireq.clear_width();
  ireq.mutable_duration_seconds()->set_min(10);
  ireq.mutable_duration_seconds()->set_max(5);
  EXPECT_EQ(bad(ireq), std::vector<std::string>{"duration_seconds"});
  ireq.clear_duration_seconds();
  ireq.mutable_create_time()->mutable_on_day_from()->set_seconds(1);
  ireq.mutable_create_time()->mutable_end_time()->set_seconds(2);
  EXPECT_EQ(bad(ireq), std::vector<std::string>{"create_time"});
  ireq.clear_create_time();
  (*ireq.mutable_user_metadata())["page"] = "2";
  EXPECT_EQ(bad(ireq), std::vector<std::string>{"user_metadata"}) << "must not shadow the paging";
  ireq.clear_user_metadata();
  (*ireq.mutable_user_metadata())["a&b"] = "2";
  EXPECT_EQ(bad(ireq), std::vector<std::string>{"user_metadata"});
  EXPECT_EQ(Calls(), 0);
}

TEST_F(AssetServiceTest, GetListDeleteAssetsAndUniformNotFound) {
  std::string id = CreateReady(kMediaToken);
  gw::Asset got;
  ASSERT_TRUE(GetAsset(kMediaToken, id, &got).ok());
  EXPECT_EQ(got.id(), id);
  EXPECT_EQ(got.status(), gw::ASSET_STATUS_READY);

  gw::ListAssetsRequest lreq;
  lreq.add_asset_types(gw::ASSET_TYPE_VIDEO);
  lreq.set_filename("clip");
  gw::ListAssetsResponse list;
  ASSERT_TRUE(ListAssets(kMediaToken, lreq, &list).ok());
  ASSERT_EQ(list.assets_size(), 1);
  EXPECT_EQ(list.assets(0).id(), id);
  const auto& sent = static_cast<const gw::ListAssetsRequest&>(*h_.api().calls().back().request);
  EXPECT_EQ(sent.filename(), "clip");
  EXPECT_EQ(sent.asset_types_size(), 1);

  grpc::Status missing = GetAsset(kMediaToken, kUnknownAsset);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_message(), absl::StrCat("asset ", kUnknownAsset, " was not found"));

  ASSERT_TRUE(DeleteAsset(kMediaToken, id).ok());
  EXPECT_FALSE(h_.api().asset(id).has_value());
  EXPECT_EQ(DeleteAsset(kMediaToken, id).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(AssetServiceTest, IndexedAssetLifecycle) {
  std::string asset = CreateReady(kMediaToken);
  gw::IndexedAsset ia;
  grpc::Status s = Index(kMediaToken, kIndexA, asset, &ia);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(ia.index_id(), kIndexA);
  EXPECT_EQ(ia.asset_id(), asset);
  EXPECT_EQ(ia.status(), gw::INDEXED_ASSET_STATUS_PENDING) << "the follow-up read fills the whole object";
  EXPECT_EQ(ia.system_metadata().filename(), "clip.mp4");
  auto calls = h_.api().calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[calls.size() - 2].method, "CreateIndexedAsset");
  EXPECT_EQ(calls[calls.size() - 2].opts.api_key, kMediaKey);
  EXPECT_EQ(calls.back().method, "GetIndexedAsset");
  EXPECT_EQ(*h_.store().Owner(ia.id()), "media");

  gw::IndexedAsset got;
  ASSERT_TRUE(GetIndexed(kMediaToken, kIndexA, ia.id(), &got).ok());
  EXPECT_EQ(got.id(), ia.id());
  gw::ListIndexedAssetsRequest lreq;
  lreq.set_index_id(kIndexA);
  lreq.add_statuses(gw::INDEXED_ASSET_STATUS_PENDING);
  lreq.mutable_duration_seconds()->set_min(1);
  (*lreq.mutable_user_metadata())["team"] = "news";
  gw::ListIndexedAssetsResponse list;
  ASSERT_TRUE(ListIndexed(kMediaToken, lreq, &list).ok());
  ASSERT_EQ(list.indexed_assets_size(), 1);
  const auto& sent = static_cast<const gw::ListIndexedAssetsRequest&>(*h_.api().calls().back().request);
  EXPECT_EQ(sent.duration_seconds().min(), 1);
  EXPECT_EQ(sent.user_metadata().at("team"), "news");

  // Indexed: the asset cannot be deleted without force (upstream's 409).
  grpc::Status blocked = DeleteAsset(kMediaToken, asset);
  EXPECT_EQ(blocked.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(blocked);
  ASSERT_TRUE(ErrorInfoOf(blocked).has_value());
  EXPECT_EQ(ErrorInfoOf(blocked)->reason(), "ASSET_IN_USE");
  EXPECT_EQ(ErrorInfoOf(blocked)->metadata().at("indexed_assets"),
            absl::StrCat(kIndexA, "/", ia.id()));
  EXPECT_TRUE(absl::StrContains(blocked.error_message(), ia.id())) << blocked.error_message();
  EXPECT_EQ(h_.api().calls().back().method, "ListAssetIndexedAssets");
  EXPECT_TRUE(h_.api().asset(asset).has_value());

  ASSERT_TRUE(DeleteIndexed(kMediaToken, kIndexA, ia.id()).ok());
  EXPECT_EQ(GetIndexed(kMediaToken, kIndexA, ia.id()).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(DeleteAsset(kMediaToken, asset).ok());
}

TEST_F(AssetServiceTest, DeleteWithForcePassesForce) {
  std::string asset = CreateReady(kMediaToken);
  ASSERT_TRUE(Index(kMediaToken, kIndexA, asset).ok());
  grpc::Status s = DeleteAsset(kMediaToken, asset, /*force=*/true);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().calls().back().page, 1) << "force recorded by the fake";
}

TEST_F(AssetServiceTest, AuthenticationComesFirst) {
  EXPECT_EQ(GetAsset("", "not-an-id").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(GetAsset("wrong-token", kUnknownAsset).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  gw::ListIndexedAssetsRequest req;
  gw::ListIndexedAssetsResponse resp;
  EXPECT_EQ(ListIndexed("", req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Calls(), 0);
}

TEST_F(AssetServiceTest, MethodsAllowlistAndIndexRestriction) {
  // reader may call no AssetService method.
  EXPECT_EQ(GetAsset(kReaderToken, kUnknownAsset).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // asset-reader may not create or delete assets.
  gw::CreateAssetRequest creq;
  creq.set_url("https://cdn.example.com/x.mp4");
  gw::Asset a;
  EXPECT_EQ(Create(kAssetReaderToken, creq, &a).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(DeleteAsset(kAssetReaderToken, kUnknownAsset).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  std::string asset = CreateReady(kMediaToken);
  EXPECT_TRUE(GetAsset(kAssetReaderToken, asset).ok()) << "assets belong to no index";
  const int before = Calls();
  EXPECT_EQ(Index(kAssetReaderToken, kIndexB, asset).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(GetIndexed(kAssetReaderToken, kIndexB, kUnknownAsset).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(DeleteIndexed(kAssetReaderToken, kIndexB, kUnknownAsset).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  gw::ListIndexedAssetsRequest lreq;
  lreq.set_index_id(kIndexB);
  gw::ListIndexedAssetsResponse list;
  EXPECT_EQ(ListIndexed(kAssetReaderToken, lreq, &list).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Calls(), before);

  gw::IndexedAsset ia;
  ASSERT_TRUE(Index(kAssetReaderToken, kIndexA, asset, &ia).ok());
  EXPECT_TRUE(GetIndexed(kAssetReaderToken, kIndexA, ia.id()).ok());
  EXPECT_TRUE(DeleteIndexed(kAssetReaderToken, kIndexA, ia.id()).ok());
}

TEST_F(AssetServiceTest, WatchAssetSharesOnePollAndEndsOkAfterReady) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/watched.mp4");
  gw::Asset a;
  ASSERT_TRUE(Create(kMediaToken, req, &a).ok());
  auto w1 = WatchAsset(kMediaToken, a.id());
  auto w2 = WatchAsset(kMediaToken, a.id());
  for (auto* w : {w1.get(), w2.get()}) {
    auto snap = w->Next();
    ASSERT_TRUE(snap.has_value());
    EXPECT_EQ(snap->source(), gw::EVENT_SOURCE_SNAPSHOT);
    EXPECT_EQ(snap->asset().status(), gw::ASSET_STATUS_PROCESSING);
  }
  EXPECT_EQ(h_.asset_watches().stats().entries, 1) << "one shared poll loop for both watchers";
  EXPECT_EQ(h_.api().count("GetAsset"), 1);
  h_.clock().Advance(absl::Seconds(60));
  EXPECT_FALSE(w1->Next(absl::Milliseconds(50)).has_value()) << "no change, no event";
  const int polls = h_.api().count("GetAsset");
  EXPECT_GT(polls, 1) << "the watch did not poll";

  gw::Asset ready = *h_.api().asset(a.id());
  ready.set_status(gw::ASSET_STATUS_READY);
  ready.set_status_text("ready");
  h_.api().PutAsset(ready);
  h_.clock().Advance(absl::Seconds(60));
  for (auto* w : {w1.get(), w2.get()}) {
    auto e = w->Next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->source(), gw::EVENT_SOURCE_POLL);
    EXPECT_EQ(e->asset().status(), gw::ASSET_STATUS_READY);
    auto end = w->Finish();
    ASSERT_TRUE(end.has_value());
    EXPECT_TRUE(end->ok()) << Describe(*end);
  }
  EXPECT_EQ(h_.api().calls().back().opts.api_key, kMediaKey);
}

TEST_F(AssetServiceTest, WatchIndexedAssetFollowsToReady) {
  std::string asset = CreateReady(kMediaToken);
  gw::IndexedAsset ia;
  ASSERT_TRUE(Index(kMediaToken, kIndexA, asset, &ia).ok());
  auto w = WatchIndexed(kMediaToken, kIndexA, ia.id());
  auto snap = w->Next();
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->indexed_asset().status(), gw::INDEXED_ASSET_STATUS_PENDING);
  EXPECT_EQ(h_.api().calls().back().index_id, kIndexA);
  for (auto [st, text] : {std::make_pair(gw::INDEXED_ASSET_STATUS_INDEXING, "indexing"),
                          std::make_pair(gw::INDEXED_ASSET_STATUS_READY, "ready")}) {
    gw::IndexedAsset next = *h_.api().indexed_asset(kIndexA, ia.id());
    next.set_status(st);
    next.set_status_text(text);
    h_.api().PutIndexedAsset(next);
    h_.clock().Advance(absl::Seconds(60));
    auto e = w->Next();
    ASSERT_TRUE(e.has_value()) << text;
    EXPECT_EQ(e->indexed_asset().status(), st);
    EXPECT_GT(e->sequence(), snap->sequence());
  }
  auto end = w->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->ok()) << Describe(*end);
}

TEST_F(AssetServiceTest, WatchesAreCheckedBeforeAnyPoll) {
  auto bad = WatchAsset(kMediaToken, "nope");
  auto end = bad->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto missing = WatchAsset(kMediaToken, kUnknownAsset);
  end = missing->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::NOT_FOUND) << Describe(*end);
  EXPECT_EQ(end->error_message(), absl::StrCat("asset ", kUnknownAsset, " was not found"));
  const int before = Calls();
  auto other_index = WatchIndexed(kAssetReaderToken, kIndexB, kUnknownAsset);
  end = other_index->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(*end);
  auto unauth = WatchAsset("", kUnknownAsset);
  end = unauth->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Calls(), before);
}

// ---- IndexAsset waits for its asset ----------------------------------------------

TEST_F(AssetServiceTest, IndexAssetWaitsUntilTheAssetIsReadyThenCreates) {
  const std::string id = CreateProcessing(kMediaToken);
  auto p = StartIndex(kMediaToken, id);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1))
      << "the wait is a subscriber of the asset's watch";
  EXPECT_EQ(h_.api().count("GetAsset"), 1);
  h_.clock().Advance(absl::Seconds(10));
  EXPECT_FALSE(p->done.HasBeenNotified()) << Describe(p->status);
  EXPECT_GT(h_.api().count("GetAsset"), 1) << "the shared watch polled";
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 0)
      << "nothing is created while the asset processes";

  SetAssetStatus(id, gw::ASSET_STATUS_READY, "ready");
  h_.clock().Advance(absl::Seconds(10));
  ASSERT_TRUE(p->Wait());
  ASSERT_TRUE(p->status.ok()) << Describe(p->status);
  EXPECT_EQ(p->resp.asset_id(), id);
  EXPECT_EQ(p->resp.index_id(), kIndexA);
  EXPECT_EQ(p->resp.status(), gw::INDEXED_ASSET_STATUS_PENDING) << "read whole after the create";
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 1);
  EXPECT_EQ(*h_.store().Owner(p->resp.id()), "media");
  EXPECT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 0));
}

TEST_F(AssetServiceTest, IndexAssetOfAReadyAssetCreatesAtOnce) {
  const std::string id = CreateReady(kMediaToken);
  gw::IndexedAsset ia;
  grpc::Status s = Index(kMediaToken, kIndexA, id, &ia);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().count("GetAsset"), 1) << "one read of the asset, no waiting";
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 1);
  EXPECT_EQ(h_.asset_watches().stats().subscribers, 0);
}

TEST_F(AssetServiceTest, IndexAssetOfAFailedAssetIsFailedPreconditionWithUpstreamsMessage) {
  const std::string id = CreateProcessing(kMediaToken);
  auto p = StartIndex(kMediaToken, id);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
  SetAssetStatus(id, gw::ASSET_STATUS_FAILED, "failed", "unsupported codec");
  h_.clock().Advance(absl::Seconds(10));
  ASSERT_TRUE(p->Wait());
  EXPECT_EQ(p->status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(p->status);
  auto info = ErrorInfoOf(p->status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "ASSET_FAILED");
  EXPECT_EQ(info->metadata().at("asset_error"), "unsupported codec");
  EXPECT_EQ(info->metadata().at("asset_id"), id);
  EXPECT_TRUE(absl::StrContains(p->status.error_message(), "unsupported codec"))
      << p->status.error_message();
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 0);

  // Already failed: answered from the first read.
  grpc::Status again = Index(kMediaToken, kIndexA, id);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(again);
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 0);
}

TEST_F(AssetServiceTest, IndexAssetEndsBeforeTheDeadlineSayingTheAssetStillProcesses) {
  const std::string id = CreateProcessing(kMediaToken);
  auto p = StartIndex(kMediaToken, id, absl::Seconds(20));
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
  // The wait ends a tenth of the time before the call's deadline (18 s of
  // the gateway's clock), so its own answer reaches the caller.
  h_.clock().Advance(absl::Seconds(19));
  ASSERT_TRUE(p->Wait());
  EXPECT_EQ(p->status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(p->status);
  ASSERT_TRUE(ErrorInfoOf(p->status).has_value()) << Describe(p->status);
  EXPECT_EQ(ErrorInfoOf(p->status)->reason(), "ASSET_NOT_READY");
  EXPECT_TRUE(absl::StrContains(p->status.error_message(), "still processing"))
      << p->status.error_message();
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 0);
  EXPECT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 0));
}

TEST_F(AssetServiceTest, IndexAssetOfAMissingAssetIsNotFound) {
  grpc::Status s = Index(kMediaToken, kIndexA, kUnknownAsset);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(s);
  EXPECT_EQ(s.error_message(), absl::StrCat("asset ", kUnknownAsset, " was not found"));
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 0);
  EXPECT_EQ(h_.asset_watches().stats().subscribers, 0);
}

TEST_F(AssetServiceTest, CancellingIndexAssetReleasesItsPlaceOnTheWatch) {
  const std::string id = CreateProcessing(kMediaToken);
  auto p = StartIndex(kMediaToken, id);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
  p->ctx->TryCancel();
  ASSERT_TRUE(p->Wait());
  EXPECT_EQ(p->status.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 0));
  EXPECT_EQ(h_.asset_watches().stats().entries, 0);
  const int polls = h_.api().count("GetAsset");
  h_.clock().Advance(absl::Seconds(60));
  EXPECT_EQ(h_.api().count("GetAsset"), polls) << "nobody waits: no more polls";
}

TEST_F(AssetServiceTest, ConcurrentIndexAssetsAndAWatchShareOnePollPerInterval) {
  constexpr int kWaiters = 8;
  const std::string id = CreateProcessing(kMediaToken);
  std::vector<std::unique_ptr<PendingIndex>> waiters;
  for (int i = 0; i < kWaiters; ++i) waiters.push_back(StartIndex(kMediaToken, id));
  auto watch = WatchAsset(kMediaToken, id);
  ASSERT_TRUE(watch->Next().has_value());
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), kWaiters + 1));
  EXPECT_EQ(h_.asset_watches().stats().entries, 1);
  EXPECT_EQ(h_.api().count("GetAsset"), 1) << "one read for every waiter and the watcher";
  int before = h_.api().count("GetAsset");
  const int start = before;
  // Steps of the shortest interval: at most one poll each, not one per waiter.
  for (int step = 0; step < 30; ++step) {
    h_.clock().Advance(absl::Seconds(1));
    const int now = h_.api().count("GetAsset");
    EXPECT_LE(now - before, 1) << "step " << step;
    before = now;
  }
  EXPECT_GT(before, start) << "the watch did not poll";
  EXPECT_EQ(h_.asset_watches().stats().polls, h_.api().count("GetAsset") - 0);

  SetAssetStatus(id, gw::ASSET_STATUS_READY, "ready");
  h_.clock().Advance(absl::Seconds(30));
  for (auto& w : waiters) {
    ASSERT_TRUE(w->Wait());
    EXPECT_TRUE(w->status.ok()) << Describe(w->status);
  }
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), kWaiters) << "each call indexes (no request_id)";
}

// ---- request_id on asset creates --------------------------------------------------

TEST_F(AssetServiceTest, CreateAssetWithARequestIdCreatesOnce) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/once.mp4");
  req.set_request_id("asset-req-1");
  gw::Asset first, again, other_tenant;
  ASSERT_TRUE(Create(kMediaToken, req, &first).ok());
  grpc::Status s = Create(kMediaToken, req, &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(again.status(), gw::ASSET_STATUS_PROCESSING) << "read fresh";
  EXPECT_EQ(h_.api().count("CreateAsset"), 1);
  EXPECT_EQ(h_.api().count("ListAssets"), 0) << "a plain repeat needs no look-up";

  gw::CreateAssetRequest changed = req;
  changed.set_url("https://cdn.example.com/other.mp4");
  s = Create(kMediaToken, changed, &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFieldsOf(s), std::vector<std::string>{"request_id"});
  EXPECT_EQ(h_.api().count("CreateAsset"), 1);

  ASSERT_TRUE(Create(kNewsToken, req, &other_tenant).ok());
  EXPECT_NE(other_tenant.id(), first.id()) << "request ids are per tenant";
  EXPECT_EQ(*h_.store().Owner(first.id()), "media");
  EXPECT_EQ(*h_.store().Owner(other_tenant.id()), "news");
}

TEST_F(AssetServiceTest, CreateAssetRepeatWhileTheFirstRunsIsAbortedWithRetryInfo) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/slow-create.mp4");
  req.set_request_id("asset-req-slow");
  h_.api().hold(true);
  gw::Asset first;
  grpc::Status first_status;
  std::thread creator([&] { first_status = Create(kMediaToken, req, &first); });
  ASSERT_TRUE(h_.api().AwaitHeld(1));
  gw::Asset second;
  grpc::Status s = Create(kMediaToken, req, &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << Describe(s);
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "REQUEST_IN_PROGRESS");
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  h_.api().hold(false);
  ASSERT_TRUE(h_.api().CompleteNext());
  creator.join();
  ASSERT_TRUE(first_status.ok()) << Describe(first_status);
  s = Create(kMediaToken, req, &second);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(second.id(), first.id());
  EXPECT_EQ(h_.api().count("CreateAsset"), 1);
}

TEST_F(AssetServiceTest, CreateAssetRefusedUpstreamReleasesItsRequestId) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/refused.mp4");
  req.set_request_id("asset-req-refused");
  h_.api().FailNext("CreateAsset", absl::InvalidArgumentError("url is not reachable"));
  gw::Asset a;
  EXPECT_EQ(Create(kMediaToken, req, &a).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status s = Create(kMediaToken, req, &a);
  ASSERT_TRUE(s.ok()) << Describe(s) << ": a refused create may be tried again";
  EXPECT_EQ(h_.api().count("CreateAsset"), 2);
}

TEST_F(AssetServiceTest, IndexAssetWithARequestIdCreatesOnce) {
  const std::string asset = CreateReady(kMediaToken);
  gw::IndexAssetRequest req;
  req.set_index_id(kIndexA);
  req.set_asset_id(asset);
  req.set_request_id("index-req-1");
  gw::IndexedAsset first, again;
  ASSERT_TRUE(h_.assets()->IndexAsset(Harness::Ctx(kMediaToken).get(), req, &first).ok());
  grpc::Status s = h_.assets()->IndexAsset(Harness::Ctx(kMediaToken).get(), req, &again);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(again.index_id(), kIndexA);
  EXPECT_EQ(again.asset_id(), asset);
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 1);
  req.set_enable_video_stream(true);
  s = h_.assets()->IndexAsset(Harness::Ctx(kMediaToken).get(), req, &again);
  EXPECT_EQ(BadFieldsOf(s), std::vector<std::string>{"request_id"}) << Describe(s);
}

TEST_F(AssetServiceTest, IndexAssetThatEndedWaitingReleasesItsRequestId) {
  const std::string id = CreateProcessing(kMediaToken);
  {
    auto p = StartIndex(kMediaToken, id, absl::Seconds(20), "index-req-wait");
    ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
    h_.clock().Advance(absl::Seconds(19));
    ASSERT_TRUE(p->Wait());
    EXPECT_EQ(p->status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(p->status);
  }
  SetAssetStatus(id, gw::ASSET_STATUS_READY, "ready");
  auto p = StartIndex(kMediaToken, id, absl::Seconds(20), "index-req-wait");
  ASSERT_TRUE(p->Wait());
  ASSERT_TRUE(p->status.ok()) << Describe(p->status)
                              << ": the same request_id goes on where it stopped";
  EXPECT_EQ(h_.api().count("ListIndexedAssets"), 0) << "nothing was sent: no look-up needed";
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 1);
}

// What a gateway that died mid-create left behind: its claim, recorded
// before its POST, for an attempt that had 3 s.
void LeaveCrashedClaim(Harness& h, const std::string& method, const google::protobuf::Message& req,
                       const std::string& request_id, const std::string& index_id,
                       const std::string& source) {
  const absl::Time now = h.clock().Now();
  auto claim =
      h.store().Claim(CreateScope("media", method), request_id, RequestFingerprint(req),
                      RequestStore::Attempt{index_id, source, now, now + absl::Seconds(3)});
  ASSERT_TRUE(claim.ok()) << claim.status();
  ASSERT_EQ(claim->outcome, RequestStore::Outcome::kNew);
}

TEST_F(AssetServiceTest, ACreateAssetWhoseGatewayDiedIsAdoptedFromUpstream) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/media/crash.mp4");
  req.set_request_id("asset-crash-1");
  LeaveCrashedClaim(h_, "CreateAsset", req, "asset-crash-1", "", req.url());
  const absl::Time t0 = h_.clock().Now();
  auto put = [&](int n, const std::string& filename, absl::Duration after) {
    gw::Asset a = ReadyAsset(absl::StrFormat("aaaaaaaaaaaaaaaaaaaaaa%02d", n),
                             absl::ToUnixSeconds(t0 + after));
    a.set_filename(filename);
    h_.api().PutAsset(a);
    return a.id();
  };
  const std::string owned = put(1, "crash.mp4", absl::Milliseconds(100));
  ASSERT_TRUE(h_.store().RecordOwner(owned, "news").ok());
  const std::string crashed = put(2, "crash.mp4", absl::Seconds(1));
  put(3, "crash.mp4", absl::Seconds(2));
  put(4, "crash.mp4.bak", absl::Seconds(1));
  put(5, "crash.mp4", -absl::Hours(1));

  h_.clock().Advance(absl::Seconds(6));  // past the attempt's deadline and the store's margin
  gw::Asset a;
  grpc::Status s = Create(kMediaToken, req, &a);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(a.id(), crashed) << "the earliest unowned asset of that name in the window";
  EXPECT_EQ(h_.api().count("CreateAsset"), 0) << "adopted, not created again";
  EXPECT_GE(h_.api().count("ListAssets"), 1);
  const auto& sent = static_cast<const gw::ListAssetsRequest&>(*h_.api().calls()[0].request);
  EXPECT_EQ(sent.filename(), "crash.mp4");
  EXPECT_EQ(*h_.store().Owner(crashed), "media");
  gw::Asset again;
  ASSERT_TRUE(Create(kMediaToken, req, &again).ok());
  EXPECT_EQ(again.id(), crashed);
}

TEST_F(AssetServiceTest, ACreateAssetWhoseGatewayDiedWithNothingUpstreamCreates) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/media/never.mp4");
  req.set_request_id("asset-crash-2");
  LeaveCrashedClaim(h_, "CreateAsset", req, "asset-crash-2", "", req.url());
  h_.clock().Advance(absl::Seconds(6));
  h_.api().FailNext("ListAssets", absl::UnavailableError("upstream down"));
  gw::Asset a;
  grpc::Status s = Create(kMediaToken, req, &a);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "REQUEST_RECOVERY_FAILED");
  EXPECT_EQ(h_.api().count("CreateAsset"), 0) << "never created blindly";
  s = Create(kMediaToken, req, &a);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().count("CreateAsset"), 1);
  EXPECT_EQ(a.filename(), "never.mp4");
}

TEST_F(AssetServiceTest, AnIndexAssetWhoseGatewayDiedIsAdoptedFromUpstream) {
  const std::string asset = CreateReady(kMediaToken);
  gw::IndexAssetRequest req;
  req.set_index_id(kIndexA);
  req.set_asset_id(asset);
  req.set_request_id("index-crash-1");
  LeaveCrashedClaim(h_, "IndexAsset", req, "index-crash-1", kIndexA, asset);
  const absl::Time t0 = h_.clock().Now();
  auto put = [&](int n, const std::string& asset_id, absl::Duration after) {
    gw::IndexedAsset ia;
    ia.set_id(absl::StrFormat("bbbbbbbbbbbbbbbbbbbbbb%02d", n));
    ia.set_index_id(kIndexA);
    ia.set_asset_id(asset_id);
    ia.set_status(gw::INDEXED_ASSET_STATUS_QUEUED);
    ia.set_status_text("queued");
    ia.mutable_create_time()->set_seconds(absl::ToUnixSeconds(t0 + after));
    h_.api().PutIndexedAsset(ia);
    return ia.id();
  };
  put(1, kUnknownAsset, absl::Seconds(1));  // another asset
  const std::string crashed = put(2, asset, absl::Seconds(1));
  h_.clock().Advance(absl::Seconds(6));
  gw::IndexedAsset ia;
  grpc::Status s = h_.assets()->IndexAsset(Harness::Ctx(kMediaToken).get(), req, &ia);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(ia.id(), crashed);
  EXPECT_EQ(ia.status(), gw::INDEXED_ASSET_STATUS_QUEUED);
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 0) << "adopted, not indexed again";
  EXPECT_EQ(*h_.store().Owner(crashed), "media");
  const auto& sent = static_cast<const gw::ListIndexedAssetsRequest&>(
      *h_.api().calls()[h_.api().calls().size() - 2].request);
  EXPECT_EQ(sent.sort_by(), gw::INDEXED_ASSET_SORT_FIELD_CREATE_TIME);
  EXPECT_EQ(sent.sort_order(), gw::SORT_ORDER_DESCENDING);
}

// ---- Poll schedule --------------------------------------------------------------

TEST(AssetPollIntervalTest, FastJustAfterAChangeSlowerLater) {
  WatchOptions o;
  const absl::Time now = absl::FromUnixSeconds(1767225600);
  EXPECT_EQ(AssetPollInterval(o, now - absl::Seconds(10), 0, now), absl::Milliseconds(2500));
  EXPECT_EQ(AssetPollInterval(o, now - absl::Minutes(5), 0, now), absl::Seconds(5));
  EXPECT_EQ(AssetPollInterval(o, now - absl::Hours(1), 0, now), absl::Seconds(20));
  EXPECT_EQ(AssetPollInterval(o, absl::InfinitePast(), 0, now), absl::Seconds(5));
  EXPECT_EQ(AssetPollInterval(o, now - absl::Seconds(10), 2, now), absl::Seconds(10))
      << "backs off after failures";
  EXPECT_EQ(AssetPollInterval(o, now - absl::Hours(1), 5, now), o.max_interval);
  o.base_interval = absl::Seconds(1);
  EXPECT_EQ(AssetPollInterval(o, now, 0, now), o.min_interval) << "never below min";

  IndexedAssetWatchKind kind(nullptr);
  gw::IndexedAsset ia;
  ia.mutable_create_time()->set_seconds(absl::ToUnixSeconds(now - absl::Hours(2)));
  ia.mutable_update_time()->set_seconds(absl::ToUnixSeconds(now - absl::Seconds(5)));
  WatchItem item;
  item.value = std::make_shared<gw::IndexedAsset>(ia);
  o = WatchOptions();
  EXPECT_EQ(kind.NextInterval(o, {&item}, 0, /*webhooks_active=*/true, now),
            absl::Milliseconds(2500))
      << "by the last update; webhooks never announce indexed assets";
}

TEST_F(AssetServiceTest, HundredWatchersOfOneIndexedAssetShareOnePollPerInterval) {
  constexpr int kWatchers = 100;
  const std::string asset = CreateReady(kMediaToken);
  gw::IndexedAsset ia;
  ASSERT_TRUE(Index(kMediaToken, kIndexA, asset, &ia).ok());
  std::vector<std::unique_ptr<IndexedWatch>> watches;
  for (int i = 0; i < kWatchers; ++i)
    watches.push_back(WatchIndexed(kMediaToken, kIndexA, ia.id()));
  for (auto& w : watches) ASSERT_TRUE(w->Next().has_value());
  EXPECT_EQ(h_.indexed_asset_watches().stats().entries, 1);
  int before = h_.api().count("GetIndexedAsset");
  const int start = before;
  for (int step = 0; step < 30; ++step) {
    h_.clock().Advance(absl::Seconds(1));
    const int now = h_.api().count("GetIndexedAsset");
    EXPECT_LE(now - before, 1) << "step " << step;
    before = now;
  }
  EXPECT_GT(before, start);
  EXPECT_GE(h_.indexed_asset_watches().stats().polls_saved, (kWatchers - 1));
  gw::IndexedAsset ready = *h_.api().indexed_asset(kIndexA, ia.id());
  ready.set_status(gw::INDEXED_ASSET_STATUS_READY);
  ready.set_status_text("ready");
  h_.api().PutIndexedAsset(ready);
  h_.clock().Advance(absl::Seconds(30));
  for (auto& w : watches) {
    auto e = w->Next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->indexed_asset().status(), gw::INDEXED_ASSET_STATUS_READY);
    auto end = w->Finish();
    ASSERT_TRUE(end.has_value());
    EXPECT_TRUE(end->ok()) << Describe(*end);
  }
}

class AssetServiceV12Test : public AssetServiceTest {
 protected:
  AssetServiceV12Test() : AssetServiceTest(WithAssetReader(DefaultConfig()), ApiVersion::kV1_2) {}
};

TEST_F(AssetServiceV12Test, EveryMethodNamesV13WithoutAnUpstreamCall) {
  gw::CreateAssetRequest creq;
  creq.set_url("https://cdn.example.com/x.mp4");
  gw::Asset a;
  gw::ListAssetsResponse al;
  gw::ListIndexedAssetsRequest ilreq;
  ilreq.set_index_id(kIndexA);
  gw::ListIndexedAssetsResponse il;
  for (const grpc::Status& s :
       {Create(kMediaToken, creq, &a), GetAsset(kMediaToken, kUnknownAsset),
        ListAssets(kMediaToken, gw::ListAssetsRequest(), &al), DeleteAsset(kMediaToken, kUnknownAsset),
        Index(kMediaToken, kIndexA, kUnknownAsset), GetIndexed(kMediaToken, kIndexA, kUnknownAsset),
        ListIndexed(kMediaToken, ilreq, &il), DeleteIndexed(kMediaToken, kIndexA, kUnknownAsset)}) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "v1.3")) << s.error_message();
  }
  for (grpc::Status s : {*WatchAsset(kMediaToken, kUnknownAsset)->Finish(),
                         *WatchIndexed(kMediaToken, kIndexA, kUnknownAsset)->Finish()}) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "v1.3")) << s.error_message();
  }
  EXPECT_EQ(Calls(), 0);
  // Still authentication first.
  EXPECT_EQ(GetAsset("", kUnknownAsset).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

class IsolatedAssetServiceTest : public AssetServiceTest {
 protected:
  IsolatedAssetServiceTest() : AssetServiceTest(WithAssetReader(IsolatedConfig())) {}
  static std::string Id(int i) { return absl::StrCat("c", absl::StrFormat("%023x", i)); }
};

TEST_F(IsolatedAssetServiceTest, AnotherTenantsAssetsAreNotFoundLikeMissingOnes) {
  std::string media = CreateReady(kMediaToken);
  gw::IndexedAsset ia;
  ASSERT_TRUE(Index(kMediaToken, kIndexA, media, &ia).ok());
  h_.api().PutAsset(ReadyAsset(Id(900)));  // made outside the gateway: no owner
  const int before = Calls();

  grpc::Status other = GetAsset(kNewsToken, media);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(other.error_message(), absl::StrCat("asset ", media, " was not found"));
  EXPECT_EQ(GetAsset(kNewsToken, Id(900)).error_code(), grpc::StatusCode::NOT_FOUND) << "unrecorded";
  EXPECT_EQ(GetAsset(kMediaToken, Id(900)).error_code(), grpc::StatusCode::NOT_FOUND) << "not a sole user";
  EXPECT_EQ(DeleteAsset(kNewsToken, media, true).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Index(kNewsToken, kIndexA, media).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status ghidden = GetIndexed(kNewsToken, kIndexA, ia.id());
  grpc::Status gmissing = GetIndexed(kNewsToken, kIndexA, kUnknownAsset);
  EXPECT_EQ(ghidden.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ghidden.error_message(), absl::StrReplaceAll(gmissing.error_message(), {{kUnknownAsset, ia.id()}}));
  EXPECT_EQ(DeleteIndexed(kNewsToken, kIndexA, ia.id()).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(WatchAsset(kNewsToken, media)->Finish()->error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(WatchIndexed(kNewsToken, kIndexA, ia.id())->Finish()->error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Calls(), before) << "refused from the ownership record, before upstream";
  EXPECT_TRUE(h_.api().asset(media).has_value());
  EXPECT_TRUE(GetIndexed(kMediaToken, kIndexA, ia.id()).ok());
}

TEST_F(IsolatedAssetServiceTest, ListsShowOnlyTheTenantsOwn) {
  std::set<std::string> mine;
  for (int i = 0; i < 3; ++i) mine.insert(CreateReady(kMediaToken));
  std::string theirs = CreateReady(kNewsToken);
  for (int i = 0; i < 60; ++i) h_.api().PutAsset(ReadyAsset(Id(1000 + i), 1767225600 + 100 + i));

  std::set<std::string> seen;
  gw::ListAssetsRequest req;
  req.set_page_size(2);
  int pages = 0;
  do {
    gw::ListAssetsResponse resp;
    grpc::Status s = ListAssets(kMediaToken, req, &resp);
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(resp.total_size(), 0) << "the account's count is not a non-sole tenant's to know";
    EXPECT_GT(resp.assets_size(), 0) << "no empty pages";
    for (const auto& a : resp.assets()) seen.insert(a.id());
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty() && ++pages < 10);
  EXPECT_EQ(seen, mine);

  gw::IndexedAsset a, b;
  ASSERT_TRUE(Index(kMediaToken, kIndexA, *mine.begin(), &a).ok());
  ASSERT_TRUE(Index(kNewsToken, kIndexA, theirs, &b).ok());
  gw::ListIndexedAssetsRequest lreq;
  lreq.set_index_id(kIndexA);
  gw::ListIndexedAssetsResponse list;
  ASSERT_TRUE(ListIndexed(kNewsToken, lreq, &list).ok());
  ASSERT_EQ(list.indexed_assets_size(), 1);
  EXPECT_EQ(list.indexed_assets(0).id(), b.id());
}

}  // namespace
}  // namespace tlgw::testing
