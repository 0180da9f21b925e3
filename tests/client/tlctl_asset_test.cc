// tlctl's asset and indexed-asset commands run in-process (RunTlctl)
// against a scripted AssetService: what each command sends, what it
// prints, and its exit code.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/commands.h"
#include "tests/client/fake_gateway.h"
#include "twelvelabs/gateway/v1/asset_service.grpc.pb.h"

namespace tlclient {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

constexpr char kAsset[] = "0123456789abcdef0123aaaa";
constexpr char kIndex[] = "0123456789abcdef01234567";
constexpr char kIndexed[] = "0123456789abcdef0123bbbb";

// Records every request; answers from what the test put in.
class FakeAssets final : public gw::AssetService::Service {
 public:
  FakeAssets() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeAssets() override {
    server_->Shutdown();
    server_->Wait();
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  grpc::Status GetAsset(grpc::ServerContext*, const gw::GetAssetRequest* req,
                        gw::Asset* out) override {
    Record(*req);
    *out = asset;
    out->set_id(req->asset_id());
    return status;
  }
  grpc::Status ListAssets(grpc::ServerContext*, const gw::ListAssetsRequest* req,
                          gw::ListAssetsResponse* out) override {
    Record(*req);
    // Two pages of one asset each.
    gw::Asset a = asset;
    a.set_id(req->page_token().empty() ? "0123456789abcdef0123a001" : "0123456789abcdef0123a002");
    *out->add_assets() = a;
    out->set_total_size(2);
    if (req->page_token().empty()) out->set_next_page_token("page-2");
    return status;
  }
  grpc::Status DeleteAsset(grpc::ServerContext*, const gw::DeleteAssetRequest* req,
                           google::protobuf::Empty*) override {
    Record(*req);
    return status;
  }
  grpc::Status WatchAsset(grpc::ServerContext*, const gw::WatchAssetRequest* req,
                          grpc::ServerWriter<gw::AssetEvent>* writer) override {
    Record(*req);
    for (const char* st : asset_watch) {
      gw::AssetEvent e;
      e.mutable_asset()->set_id(req->asset_id());
      e.mutable_asset()->set_status_text(st);
      e.mutable_observe_time()->set_seconds(1767225600);
      writer->Write(e);
    }
    return status;
  }
  grpc::Status GetIndexedAsset(grpc::ServerContext*, const gw::GetIndexedAssetRequest* req,
                               gw::IndexedAsset* out) override {
    Record(*req);
    *out = indexed;
    out->set_id(req->indexed_asset_id());
    out->set_index_id(req->index_id());
    return status;
  }
  grpc::Status ListIndexedAssets(grpc::ServerContext*, const gw::ListIndexedAssetsRequest* req,
                                 gw::ListIndexedAssetsResponse* out) override {
    Record(*req);
    *out->add_indexed_assets() = indexed;
    out->set_total_size(1);
    return status;
  }
  grpc::Status DeleteIndexedAsset(grpc::ServerContext*, const gw::DeleteIndexedAssetRequest* req,
                                  google::protobuf::Empty*) override {
    Record(*req);
    return status;
  }
  grpc::Status WatchIndexedAsset(grpc::ServerContext*, const gw::WatchIndexedAssetRequest* req,
                                 grpc::ServerWriter<gw::IndexedAssetEvent>* writer) override {
    Record(*req);
    for (const char* st : indexed_watch) {
      gw::IndexedAssetEvent e;
      e.mutable_indexed_asset()->set_id(req->indexed_asset_id());
      e.mutable_indexed_asset()->set_status_text(st);
      writer->Write(e);
    }
    return status;
  }

  // The requests received, in order.
  std::vector<std::shared_ptr<google::protobuf::Message>> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  template <typename T>
  T Last() {
    auto all = requests();
    EXPECT_FALSE(all.empty());
    return all.empty() ? T() : static_cast<const T&>(*all.back());
  }

  gw::Asset asset;
  gw::IndexedAsset indexed;
  std::vector<const char*> asset_watch, indexed_watch;
  grpc::Status status;

 private:
  void Record(const google::protobuf::Message& m) {
    std::shared_ptr<google::protobuf::Message> copy(m.New());
    copy->CopyFrom(m);
    absl::MutexLock lock(&mu_);
    requests_.push_back(std::move(copy));
  }
  absl::Mutex mu_;
  std::vector<std::shared_ptr<google::protobuf::Message>> requests_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

class TlctlAssetTest : public ::testing::Test {
 protected:
  TlctlAssetTest() {
    fake_.asset.set_status_text("ready");
    fake_.asset.set_filename("clip.mp4");
    fake_.asset.set_file_type("video/mp4");
    fake_.asset.set_size_bytes(5 << 20);
    fake_.indexed.set_id(kIndexed);
    fake_.indexed.set_asset_id(kAsset);
    fake_.indexed.set_status_text("indexing");
    fake_.indexed.mutable_system_metadata()->set_filename("clip.mp4");
  }
  Result Run(std::vector<std::string> args) {
    args.push_back("--addr");
    args.push_back(fake_.address());
    std::ostringstream out, err;
    CliEnvironment env;
    env.out = &out;
    env.err = &err;
    int code = RunTlctl(args, env);
    return {code, out.str(), err.str()};
  }
  FakeAssets fake_;
};

TEST_F(TlctlAssetTest, AssetGetPrintsTheAsset) {
  Result r = Run({"asset", "get", kAsset});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(fake_.Last<gw::GetAssetRequest>().asset_id(), kAsset);
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("ID          ", kAsset))) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "STATUS      ready")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "SIZE        5.0 MiB")) << r.out;
  Result json = Run({"asset", "get", kAsset, "--json"});
  ASSERT_EQ(json.code, kExitOk) << json.err;
  EXPECT_TRUE(absl::StrContains(json.out, "\"filename\": \"clip.mp4\"")) << json.out;
}

TEST_F(TlctlAssetTest, AssetListSendsFiltersAndFollowsPagesWithAll) {
  Result r = Run({"asset", "list", "--id", kAsset, "--type", "video,audio", "--filename", "clip",
                  "--page-size", "5"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  auto req = fake_.Last<gw::ListAssetsRequest>();
  ASSERT_EQ(req.asset_ids_size(), 1);
  EXPECT_EQ(req.asset_ids(0), kAsset);
  ASSERT_EQ(req.asset_types_size(), 2);
  EXPECT_EQ(req.asset_types(0), gw::ASSET_TYPE_VIDEO);
  EXPECT_EQ(req.asset_types(1), gw::ASSET_TYPE_AUDIO);
  EXPECT_EQ(req.filename(), "clip");
  EXPECT_EQ(req.page_size(), 5);
  EXPECT_TRUE(absl::StrContains(r.out, "0123456789abcdef0123a001")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.err, "--page-token page-2")) << r.err;

  Result all = Run({"asset", "list", "--all"});
  ASSERT_EQ(all.code, kExitOk) << all.err;
  EXPECT_TRUE(absl::StrContains(all.out, "0123456789abcdef0123a001")) << all.out;
  EXPECT_TRUE(absl::StrContains(all.out, "0123456789abcdef0123a002")) << all.out;
  EXPECT_EQ(fake_.Last<gw::ListAssetsRequest>().page_token(), "page-2");
  EXPECT_TRUE(all.err.empty()) << all.err;
}

TEST_F(TlctlAssetTest, BadValuesAreUsageErrorsBeforeAnyCall) {
  EXPECT_EQ(Run({"asset", "list", "--type", "movie"}).code, kExitUsage);
  EXPECT_EQ(Run({"asset", "list", "--page-size", "51"}).code, kExitUsage);
  EXPECT_EQ(Run({"indexed-asset", "list", "--index", kIndex, "--status", "done"}).code, kExitUsage);
  EXPECT_EQ(Run({"indexed-asset", "list", "--index", kIndex, "--sort", "name"}).code, kExitUsage);
  EXPECT_EQ(Run({"indexed-asset", "list", "--index", kIndex, "--min-duration", "x"}).code,
            kExitUsage);
  EXPECT_EQ(Run({"indexed-asset", "get", kIndexed}).code, kExitUsage) << "--index is required";
  Result group = Run({"asset"});
  EXPECT_EQ(group.code, kExitUsage);
  EXPECT_TRUE(absl::StrContains(group.err, "'asset' needs a command: upload, get, list, delete, watch"))
      << group.err;
  Result missing = Run({"asset", "get"});
  EXPECT_EQ(missing.code, kExitUsage);
  EXPECT_TRUE(absl::StrContains(missing.err, "Run 'tlctl asset get --help'")) << missing.err;
  EXPECT_EQ(Run({"asset", "frob"}).code, kExitUsage);
  EXPECT_EQ(Run({"asset", "upload", "a.mp4", "--video-stream"}).code, kExitUsage) << "goes with --index";
  Result both = Run({"asset", "upload", "a.mp4", "--index", kIndex, "--video-stream", "--no-video-stream"});
  EXPECT_EQ(both.code, kExitUsage);
  EXPECT_TRUE(absl::StrContains(both.err, "contradict")) << both.err;
  EXPECT_TRUE(fake_.requests().empty());
}

TEST_F(TlctlAssetTest, AssetUploadHelpNamesTheVideoStreamDefault) {
  Result r = Run({"asset", "upload", "--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_TRUE(absl::StrContains(r.out, "--video-stream")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "(default: none)")) << r.out;
}

TEST_F(TlctlAssetTest, HelpListsTheAssetCommands) {
  Result r = Run({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  for (const char* c :
       {"asset get", "asset list", "asset delete", "asset watch", "indexed-asset get",
        "indexed-asset list", "indexed-asset delete", "indexed-asset watch"}) {
    EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("\n  ", c, " "))) << c << "\n" << r.out;
  }
  Result one = Run({"indexed-asset", "list", "--help"});
  EXPECT_EQ(one.code, kExitOk);
  EXPECT_TRUE(absl::StrContains(one.out, "usage: tlctl indexed-asset list [options]")) << one.out;
}

TEST_F(TlctlAssetTest, AssetDeleteSendsForceAndReportsRefusals) {
  Result r = Run({"asset", "delete", kAsset, "--force"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(fake_.Last<gw::DeleteAssetRequest>().force());
  EXPECT_EQ(r.out, absl::StrCat("deleted asset ", kAsset, "\n"));
  fake_.status =
      tltest::StatusWithDetails(grpc::StatusCode::FAILED_PRECONDITION,
                                "asset is still used by 1 indexed asset(s): i/x", "ASSET_IN_USE");
  Result refused = Run({"asset", "delete", kAsset});
  EXPECT_EQ(refused.code, kExitCallFailed);
  EXPECT_FALSE(fake_.Last<gw::DeleteAssetRequest>().force());
  EXPECT_TRUE(absl::StrContains(refused.err, "ASSET_IN_USE")) << refused.err;
  EXPECT_TRUE(absl::StrContains(refused.err, "i/x")) << refused.err;
}

TEST_F(TlctlAssetTest, AssetWatchExitsByTheLastStatus) {
  fake_.asset_watch = {"processing", "ready"};
  Result r = Run({"asset", "watch", kAsset});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("2026-01-01 00:00:00Z  ", kAsset, "  processing\n",
                                "2026-01-01 00:00:00Z  ", kAsset, "  ready\n"));
  fake_.asset_watch = {"processing", "failed"};
  r = Run({"asset", "watch", kAsset});
  EXPECT_EQ(r.code, kExitNegative);
  EXPECT_TRUE(absl::StrContains(r.err, "failed")) << r.err;
  fake_.asset_watch = {"processing"};
  r = Run({"asset", "watch", kAsset});
  EXPECT_EQ(r.code, kExitCallFailed) << "ended early";
  EXPECT_TRUE(absl::StrContains(r.err, "last status: processing")) << r.err;
  fake_.asset_watch = {"processing", "ready"};
  r = Run({"asset", "watch", kAsset, "--json"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2)
      << "one JSON line per event: " << r.out;
}

TEST_F(TlctlAssetTest, IndexedAssetCommandsSendTheIndex) {
  Result get = Run({"indexed-asset", "get", kIndexed, "--index", kIndex});
  ASSERT_EQ(get.code, kExitOk) << get.err;
  EXPECT_EQ(fake_.Last<gw::GetIndexedAssetRequest>().index_id(), kIndex);
  EXPECT_EQ(fake_.Last<gw::GetIndexedAssetRequest>().indexed_asset_id(), kIndexed);
  EXPECT_TRUE(absl::StrContains(get.out, absl::StrCat("ASSET       ", kAsset))) << get.out;
  EXPECT_TRUE(absl::StrContains(get.out, "STATUS      indexing")) << get.out;

  Result list = Run({"indexed-asset", "list", "--index", kIndex, "--status", "ready,indexing",
                     "--filename", "clip.mp4", "--min-duration", "10", "--max-duration", "60.5",
                     "--sort", "updated", "--asc", "--metadata", "team=news"});
  ASSERT_EQ(list.code, kExitOk) << list.err;
  auto req = fake_.Last<gw::ListIndexedAssetsRequest>();
  EXPECT_EQ(req.index_id(), kIndex);
  ASSERT_EQ(req.statuses_size(), 2);
  EXPECT_EQ(req.statuses(0), gw::INDEXED_ASSET_STATUS_READY);
  EXPECT_EQ(req.statuses(1), gw::INDEXED_ASSET_STATUS_INDEXING);
  EXPECT_EQ(req.filename(), "clip.mp4");
  EXPECT_EQ(req.duration_seconds().min(), 10);
  EXPECT_EQ(req.duration_seconds().max(), 60.5);
  EXPECT_EQ(req.sort_by(), gw::INDEXED_ASSET_SORT_FIELD_UPDATE_TIME);
  EXPECT_EQ(req.sort_order(), gw::SORT_ORDER_ASCENDING);
  EXPECT_EQ(req.user_metadata().at("team"), "news");
  EXPECT_TRUE(absl::StrContains(list.out, kIndexed)) << list.out;

  Result del = Run({"indexed-asset", "delete", kIndexed, "--index", kIndex});
  ASSERT_EQ(del.code, kExitOk) << del.err;
  EXPECT_EQ(fake_.Last<gw::DeleteIndexedAssetRequest>().index_id(), kIndex);

  fake_.indexed_watch = {"pending", "queued", "indexing", "ready"};
  Result watch = Run({"indexed-asset", "watch", kIndexed, "--index", kIndex});
  ASSERT_EQ(watch.code, kExitOk) << watch.err;
  EXPECT_EQ(fake_.Last<gw::WatchIndexedAssetRequest>().index_id(), kIndex);
  EXPECT_TRUE(absl::StrContains(watch.out, "  queued\n")) << watch.out;
  fake_.indexed_watch = {"indexing", "failed"};
  EXPECT_EQ(Run({"indexed-asset", "watch", kIndexed, "--index", kIndex}).code, kExitNegative);
}

}  // namespace
}  // namespace tlclient
