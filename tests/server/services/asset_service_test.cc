// AssetService in process: the real gRPC server and stub, the fake
// upstream and a fake clock (service_harness.h).
#include <gtest/gtest.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
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
                        Case{"https://cdn.example.com/c.mp4", "", "retry-1", "request_id"}}) {
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
  ireq.set_request_id("r1");
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

TEST_F(AssetServiceTest, IndexingAnAssetThatIsNotReadyPassesUpstreamsRefusal) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/slow.mp4");
  gw::Asset a;
  ASSERT_TRUE(Create(kMediaToken, req, &a).ok());
  grpc::Status s = Index(kMediaToken, kIndexA, a.id());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "not ready")) << s.error_message();
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
