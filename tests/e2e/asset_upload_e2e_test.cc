// UploadAsset and GetUpload end to end: the real gateway in front of the
// real simulator (API v1.3) with a small server chunk size. Multipart
// uploads of a few hundred MiB arrive intact (the simulator's digest of the
// chunks it stored is compared with the client's) while the gateway's
// memory stays bounded; a PUT that fails is retried; URLs that expire on
// the simulator's clock are replaced; a stream cut mid-upload is continued
// with GetUpload and upload_id; small files take the direct POST; and bad
// streams are refused before any request reaches the simulator.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/e2e/attacks.h"
#include "tests/e2e/harness.h"
#include "tests/support/grpc_details.h"
#include "twelvelabs/gateway/v1/asset_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

constexpr int64_t kMiB = 1 << 20;
constexpr int64_t kServerChunk = 4 * kMiB;  // the simulator's chunk size here
constexpr int64_t kMessage = kMiB;          // what the client sends per message
// Just over the 200 MB direct limit: a multipart upload of 51 chunks.
constexpr int64_t kSmallMultipart = 201 * kMiB;

std::string Sha256(absl::string_view data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(d), n);
}

// The file, generated as it is sent (never held whole): deterministic bytes
// from `seed`, and the digest the simulator reports for a complete upload,
// SHA-256 over each server chunk's SHA-256.
class File {
 public:
  File(int64_t size, uint64_t seed) : size_(size), seed_(seed) {}
  int64_t size() const { return size_; }
  // Bytes [offset, offset + n): 8-byte words of a hash of their index
  // (splitmix64), so any range is cheap to make.
  std::string Bytes(int64_t offset, int64_t n) const {
    std::string out(static_cast<size_t>(n), '\0');
    for (int64_t i = 0; i < n;) {
      uint64_t z = seed_ * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>((offset + i) / 8);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      const int64_t in_word = (offset + i) % 8;
      const int64_t take = std::min<int64_t>(8 - in_word, n - i);
      std::memcpy(&out[static_cast<size_t>(i)], reinterpret_cast<const char*>(&z) + in_word, static_cast<size_t>(take));
      i += take;
    }
    return out;
  }
  std::string ChunkDigest() const {
    std::string all;
    for (int64_t at = 0; at < size_; at += kServerChunk) all += Sha256(Bytes(at, std::min(kServerChunk, size_ - at)));
    return absl::BytesToHexString(Sha256(all));
  }

 private:
  const int64_t size_;
  const uint64_t seed_;
};

class AssetUploadE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator({absl::StrCat("--multipart_chunk_bytes=", kServerChunk)}));
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.extra_args = {"--asset_upload_chunks_in_flight=4"};
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    assets_ = gw::AssetService::NewStub(gateway_.channel);
  }
  void TearDown() override {
    if (gateway_.process == nullptr) return;
    EXPECT_TRUE(gateway_.process->Running()) << "the gateway died:\n" << gateway_.process->Log();
    EXPECT_FALSE(absl::StrContains(gateway_.process->Log(), kTestApiKey));
  }

  static gw::UploadAssetRequest Header(int64_t size, const std::string& filename = "big.mp4") {
    gw::UploadAssetRequest r;
    r.mutable_header()->set_filename(filename);
    r.mutable_header()->set_type(gw::ASSET_TYPE_VIDEO);
    r.mutable_header()->set_size_bytes(size);
    return r;
  }
  static gw::UploadAssetRequest Chunk(std::string bytes) {
    gw::UploadAssetRequest r;
    r.set_chunk(std::move(bytes));
    return r;
  }

  // Streams `file` from `from` after `header`; `before_byte(offset)` runs
  // before each message (to pause, cut or fault mid-upload) and returns
  // false to stop sending without closing. The call's status.
  grpc::Status Stream(const gw::UploadAssetRequest& header, const File& file, int64_t from, gw::Asset* asset,
                      const std::function<bool(int64_t, grpc::ClientContext*)>& before_byte = nullptr) {
    auto ctx = Ctx(absl::Minutes(5));
    auto writer = assets_->UploadAsset(ctx.get(), asset);
    if (!writer->Write(header)) return writer->Finish();
    for (int64_t at = from; at < file.size(); at += kMessage) {
      if (before_byte && !before_byte(at, ctx.get())) return writer->Finish();
      if (!writer->Write(Chunk(file.Bytes(at, std::min(kMessage, file.size() - at))))) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  // The simulator's view of an upload: status, chunks, assembled digest.
  json SimUpload(const std::string& upload_id) {
    auto body = HttpGet(sim_.port, "/_sim/uploads/" + upload_id);
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? json::parse(*body) : json();
  }
  std::string UploadIdOf(const std::string& asset_id) {
    for (const json& r : control_->Requests("/assets/multipart-uploads")) {
      if (r["method"] == "POST" && r["path"] == "/v1.3/assets/multipart-uploads" && r["status"] == 201) {
        auto s = HttpGet(sim_.port, "/v1.3/assets/" + asset_id);
        (void)s;
      }
    }
    for (const json& r : control_->Requests("/uploads/")) {
      if (r.contains("chunk")) {
        std::string id = r["chunk"]["upload_id"];
        if (SimUpload(id)["asset_id"] == asset_id) return id;
      }
    }
    return "";
  }
  int Puts(int status) {
    int n = 0;
    for (const json& r : control_->Requests("/uploads/")) n += r["method"] == "PUT" && r["status"] == status;
    return n;
  }
  gw::Upload GetUpload(const std::string& upload_id) {
    gw::GetUploadRequest req;
    req.set_upload_id(upload_id);
    gw::Upload up;
    grpc::Status s = assets_->GetUpload(Ctx().get(), req, &up);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return up;
  }

  std::unique_ptr<gw::AssetService::Stub> assets_;
};

TEST_F(AssetUploadE2E, MultipartUploadOfHundredsOfMiBArrivesIntactWithBoundedMemory) {
  const File file(256 * kMiB + 12345, 1);  // 65 chunks of 4 MiB, the last short
  const int64_t chunks = (file.size() + kServerChunk - 1) / kServerChunk;
  const int64_t before = ResidentBytes(gateway_.process->pid());
  PeakResident peak(gateway_.process->pid());
  gw::Asset asset;
  grpc::Status s = Stream(Header(file.size()), file, 0, &asset);
  const int64_t peak_bytes = peak.Stop();
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(asset.method(), gw::ASSET_METHOD_MULTIPART);
  EXPECT_EQ(asset.filename(), "big.mp4");

  const std::string upload_id = UploadIdOf(asset.id());
  ASSERT_FALSE(upload_id.empty());
  json sim = SimUpload(upload_id);
  EXPECT_EQ(sim["status"], "completed");
  EXPECT_EQ(sim["total_chunks"], chunks);
  ASSERT_TRUE(sim["assembled"].is_object()) << sim.dump();
  EXPECT_EQ(sim["assembled"]["size"], file.size());
  EXPECT_EQ(sim["assembled"]["sha256_of_chunk_sha256s"], file.ChunkDigest());

  // Each chunk PUT once, to its presigned URL, with nothing of ours: no
  // key, no API headers.
  int puts = 0;
  for (const json& r : control_->Requests("/uploads/")) {
    if (r["method"] != "PUT") continue;
    ++puts;
    EXPECT_TRUE(r["api_key"].is_null()) << "the key went to the bucket";
    for (const auto& [name, value] : r["headers"].items()) {
      EXPECT_NE(absl::AsciiStrToLower(name), "x-api-key");
      EXPECT_NE(absl::AsciiStrToLower(name), "user-agent") << value;
    }
  }
  EXPECT_EQ(puts, chunks);
  int reports = 0;
  for (const json& r : control_->Requests("/assets/multipart-uploads/" + upload_id)) {
    if (r["method"] == "POST" && r["path"] == "/v1.3/assets/multipart-uploads/" + upload_id) ++reports;
  }
  EXPECT_GE(reports, 2);
  EXPECT_LT(reports, chunks / 4) << "completed chunks are reported in batches";

  // Bounded by the chunks in flight (4 + one waiting + one filling, of
  // 4 MiB) and gRPC's window, not by the file.
  std::cout << "gateway resident: " << before / kMiB << " MiB before, peak " << peak_bytes / kMiB
            << " MiB during a " << file.size() / kMiB << " MiB upload\n";
  EXPECT_LT(peak_bytes - before, 64 * kMiB) << "peak " << peak_bytes << " before " << before;

  // The session, as GetUpload reports it.
  gw::Upload up = GetUpload(upload_id);
  EXPECT_EQ(up.status(), gw::UPLOAD_STATUS_COMPLETED);
  EXPECT_EQ(up.asset_id(), asset.id());
  EXPECT_EQ(up.total_chunks(), chunks);
  EXPECT_EQ(up.chunks_completed(), chunks);
  EXPECT_EQ(up.resume_offset(), file.size());
  ASSERT_EQ(up.completed_chunks_size(), 1);
  EXPECT_EQ(up.completed_chunks(0).last(), chunks);
}

TEST_F(AssetUploadE2E, PutThatFailsOnceIsRetried) {
  control_->AddFault({{"method", "PUT"}, {"path_regex", "/uploads/"}, {"kind", "status"}, {"status", 500},
                      {"count", 1}});
  const File file(kSmallMultipart, 2);
  gw::Asset asset;
  grpc::Status s = Stream(Header(file.size()), file, 0, &asset);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Puts(500), 1);
  EXPECT_EQ(Puts(200), (file.size() + kServerChunk - 1) / kServerChunk);
  json sim = SimUpload(UploadIdOf(asset.id()));
  EXPECT_EQ(sim["status"], "completed");
  EXPECT_EQ(sim["assembled"]["sha256_of_chunk_sha256s"], file.ChunkDigest());
}

TEST_F(AssetUploadE2E, UrlsThatExpiredAreReplaced) {
  const File file(kSmallMultipart, 3);
  gw::Asset asset;
  bool advanced = false;
  grpc::Status s = Stream(Header(file.size()), file, 0, &asset, [&](int64_t at, grpc::ClientContext*) {
    if (!advanced && at == 24 * kMiB) {
      // Once the first chunks are in, an hour passes on the simulator's
      // clock: every URL the gateway holds has expired.
      EXPECT_TRUE(Eventually([&] { return Puts(200) >= 3; }, "the first PUTs"));
      control_->AdvanceClock(3700);
      advanced = true;
    }
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(advanced);
  EXPECT_GE(Puts(403), 1) << "some held URL was refused as expired";
  json sim = SimUpload(UploadIdOf(asset.id()));
  EXPECT_EQ(sim["status"], "completed");
  EXPECT_EQ(sim["assembled"]["sha256_of_chunk_sha256s"], file.ChunkDigest());
}

TEST_F(AssetUploadE2E, CutStreamIsContinuedWithGetUploadAndUploadId) {
  const File file(kSmallMultipart, 4);
  const int64_t chunks = (file.size() + kServerChunk - 1) / kServerChunk;
  gw::Asset ignored;
  // The client dies after 100 MiB: its stream is cancelled.
  grpc::Status s = Stream(Header(file.size()), file, 0, &ignored, [&](int64_t at, grpc::ClientContext* ctx) {
    if (at < 100 * kMiB) return true;
    ctx->TryCancel();
    return false;
  });
  ASSERT_EQ(s.error_code(), grpc::StatusCode::CANCELLED) << s.error_message();
  std::string upload_id;
  for (const json& r : control_->Requests("/uploads/")) {
    if (r.contains("chunk")) upload_id = r["chunk"]["upload_id"];
  }
  ASSERT_FALSE(upload_id.empty());

  // What arrived, once the gateway has reported the chunks its last PUTs
  // completed (it reports them as the upload stops).
  gw::Upload up;
  ASSERT_TRUE(Eventually(
      [&] {
        up = GetUpload(upload_id);
        return up.chunks_completed() > 0 && up.chunks_completed() == Puts(200);
      },
      "every stored chunk reported"));
  EXPECT_EQ(up.status(), gw::UPLOAD_STATUS_ACTIVE);
  EXPECT_GT(up.resume_offset(), 0);
  EXPECT_LE(up.resume_offset(), 100 * kMiB);
  EXPECT_EQ(up.resume_offset() % kServerChunk, 0);
  const int puts_before = Puts(200);

  gw::UploadAssetRequest resume;
  resume.mutable_header()->set_upload_id(upload_id);
  resume.mutable_header()->set_size_bytes(file.size());
  resume.mutable_header()->set_resume_offset(up.resume_offset());
  gw::Asset asset;
  s = Stream(resume, file, up.resume_offset(), &asset);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(asset.id(), up.asset_id());
  EXPECT_EQ(Puts(200), chunks) << "no chunk sent twice";
  EXPECT_GT(Puts(200), puts_before);
  json sim = SimUpload(upload_id);
  EXPECT_EQ(sim["status"], "completed");
  EXPECT_EQ(sim["assembled"]["sha256_of_chunk_sha256s"], file.ChunkDigest());
}

TEST_F(AssetUploadE2E, SmallFileTakesTheDirectPostIntact) {
  const File file(5 * kMiB + 7, 5);
  gw::UploadAssetRequest header = Header(file.size(), "small.mp4");
  header.mutable_header()->set_enable_thumbnail(true);
  gw::Asset asset;
  grpc::Status s = Stream(header, file, 0, &asset);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(asset.method(), gw::ASSET_METHOD_DIRECT);
  json requests = control_->Requests("/assets");
  ASSERT_EQ(requests.size(), 1u) << requests.dump();
  const json& post = requests[0];
  EXPECT_EQ(post["method"], "POST");
  EXPECT_EQ(post["path"], "/v1.3/assets");
  EXPECT_EQ(post["status"], 201);
  EXPECT_EQ(post["api_key"], kTestApiKey);
  EXPECT_EQ(post["form"]["method"], "direct");
  EXPECT_EQ(post["form"]["enable_thumbnail"], "true");
  EXPECT_EQ(post["files"]["file"]["filename"], "small.mp4");
  EXPECT_EQ(post["files"]["file"]["size"], file.size());
  EXPECT_EQ(post["files"]["file"]["sha256"], absl::BytesToHexString(Sha256(file.Bytes(0, file.size()))));
}

// request_id: the first upload creates; a repeat (same header, same
// request_id) is answered with the recorded asset after its header alone,
// the stream left unread; the same request_id with another header is
// refused; an upload cut short releases its request_id for the retry.
int CountRequests(SimControl* control, const std::string& method, const std::string& path,
                  int status = 0) {
  int n = 0;
  for (const json& r : control->Requests(path)) {
    n += r["method"] == method && r["path"] == path && (status == 0 || r["status"] == status);
  }
  return n;
}

TEST_F(AssetUploadE2E, RequestIdUploadsOnceAndARepeatIsAnsweredFromItsHeader) {
  struct Case {
    int64_t size;
    std::string request_id;
    std::string create_path;  // the upstream create a second upload would repeat
  };
  for (const Case& c : {Case{5 * kMiB + 3, "e2e-direct-once", "/v1.3/assets"},
                        Case{kSmallMultipart, "e2e-multipart-once", "/v1.3/assets/multipart-uploads"}}) {
    SCOPED_TRACE(c.request_id);
    control_->ClearRequests();
    const File file(c.size, 21);
    gw::UploadAssetRequest header = Header(file.size(), "once.mp4");
    header.mutable_header()->set_request_id(c.request_id);
    gw::Asset first;
    grpc::Status s = Stream(header, file, 0, &first);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(CountRequests(control_.get(), "POST", c.create_path), 1);

    // The repeat sends its header and nothing more.
    auto ctx = Ctx(absl::Seconds(30));
    gw::Asset again;
    auto writer = assets_->UploadAsset(ctx.get(), &again);
    ASSERT_TRUE(writer->Write(header));
    s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(again.id(), first.id());
    EXPECT_EQ(CountRequests(control_.get(), "POST", "/v1.3/assets"), c.create_path == "/v1.3/assets" ? 1 : 0);
    EXPECT_EQ(CountRequests(control_.get(), "POST", "/v1.3/assets/multipart-uploads"),
              c.create_path == "/v1.3/assets" ? 0 : 1);

    // The same request_id for another file is refused, before any request.
    const int before = static_cast<int>(control_->Requests().size());
    gw::UploadAssetRequest other = Header(file.size(), "other.mp4");
    other.mutable_header()->set_request_id(c.request_id);
    gw::Asset refused;
    s = Stream(other, File(file.size() < kSmallMultipart ? file.size() : 10, 22), 0, &refused);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "request_id")) << s.error_message();
    EXPECT_EQ(static_cast<int>(control_->Requests().size()), before) << control_->Requests().dump();
  }
}

TEST_F(AssetUploadE2E, UploadCutShortReleasesItsRequestIdAndTheRetryUploadsOnce) {
  const File file(6 * kMiB + 5, 23);
  gw::UploadAssetRequest header = Header(file.size(), "retry.mp4");
  header.mutable_header()->set_request_id("e2e-retry-after-cut");
  gw::Asset asset;
  // The client's stream ends after 3 MiB: the POST is aborted.
  auto ctx = Ctx(absl::Seconds(30));
  auto writer = assets_->UploadAsset(ctx.get(), &asset);
  ASSERT_TRUE(writer->Write(header));
  for (int64_t at = 0; at < 3 * kMiB; at += kMessage) ASSERT_TRUE(writer->Write(Chunk(file.Bytes(at, kMessage))));
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  // The retry with the same request_id runs at once, and uploads.
  s = Stream(header, file, 0, &asset);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(CountRequests(control_.get(), "POST", "/v1.3/assets", 201), 1) << control_->Requests("/assets").dump();
  EXPECT_EQ(CountRequests(control_.get(), "GET", "/v1.3/assets"), 0) << "no look-up: the bytes never all arrived";
  json posts = control_->Requests("/v1.3/assets");
  bool intact = false;
  for (const json& r : posts) {
    if (r["status"] == 201) {
      intact = r["files"]["file"]["sha256"] == absl::BytesToHexString(Sha256(file.Bytes(0, file.size())));
    }
  }
  EXPECT_TRUE(intact) << posts.dump();
  // And is what a repeat answers.
  gw::Asset again;
  ASSERT_TRUE(Stream(header, file, 0, &again).ok());
  EXPECT_EQ(again.id(), asset.id());
  EXPECT_EQ(CountRequests(control_.get(), "POST", "/v1.3/assets", 201), 1);
}

TEST_F(AssetUploadE2E, BadStreamsAreRefusedBeforeAnyRequestReachesTheSimulator) {
  struct Case {
    std::string name;
    std::vector<gw::UploadAssetRequest> messages;
    grpc::StatusCode code;
  };
  gw::UploadAssetRequest no_type = Header(10);
  no_type.mutable_header()->clear_type();
  gw::UploadAssetRequest image = Header(33'000'000, "huge.jpg");
  image.mutable_header()->set_type(gw::ASSET_TYPE_IMAGE);
  std::vector<Case> cases = {
      {"empty stream", {}, grpc::StatusCode::INVALID_ARGUMENT},
      {"chunk before header", {Chunk("x")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"empty file", {Header(0)}, grpc::StatusCode::INVALID_ARGUMENT},
      {"no type", {no_type}, grpc::StatusCode::INVALID_ARGUMENT},
      {"bad file name", {Header(10, "a/b.mp4")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"image over 32 MB", {image}, grpc::StatusCode::OUT_OF_RANGE},
      {"video over 10 GB", {Header(int64_t{10'000'000'001})}, grpc::StatusCode::OUT_OF_RANGE},
      {"message over 4 MiB", {Header(300 * kMiB), Chunk(std::string(4 * kMiB + 1, 'x'))},
       grpc::StatusCode::OUT_OF_RANGE},
  };
  for (const Case& c : cases) {
    control_->ClearRequests();
    auto ctx = Ctx();
    gw::Asset asset;
    auto writer = assets_->UploadAsset(ctx.get(), &asset);
    for (const auto& m : c.messages) {
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << s.error_message();
    if (c.name != "message over 4 MiB") {
      EXPECT_EQ(control_->Requests().size(), 0u) << c.name << ": " << control_->Requests().dump();
    }
  }
}

// ---- UploadAndIndex ----------------------------------------------------------------

// As AssetUploadE2E, with watches polling every 0.1 to 0.2 s.
// --upload_memory_mib: multipart uploads reserve their cap (8 MiB here) at
// the header and keep their working set once the session is open (two
// 1 MiB chunks in flight, a quarter chunk and one 4 MiB message: 6.25 MiB).
// With a 16 MiB budget two uploads run; more are refused at their header,
// before the simulator sees a session, and the reserved bytes never pass
// the budget. Once the two end, a new upload runs through.
class UploadBudgetE2E : public AssetUploadE2E {
 protected:
  static constexpr int64_t kSimChunk = kMiB;
  static constexpr int64_t kBudget = 16 * kMiB;
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator({absl::StrCat("--multipart_chunk_bytes=", kSimChunk)}));
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.extra_args = {"--upload_memory_mib=16", "--asset_upload_max_buffer_mib=8"};
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    assets_ = gw::AssetService::NewStub(gateway_.channel);
  }
  double Metric(const std::string& name) {
    auto text = HttpGet(gateway_.admin_port, "/metrics");
    return text.ok() ? MetricValue(*text, name) : -1;
  }
  int Sessions() { return CountRequests(control_.get(), "POST", "/v1.3/assets/multipart-uploads"); }
};

TEST_F(UploadBudgetE2E, UploadsOverTheBudgetAreRefusedBeforeUpstreamAndTheBudgetHolds) {
  // The first PUTs stall, so the uploads hold chunks in flight.
  control_->AddFault({{"method", "PUT"}, {"path_regex", "/uploads/"}, {"kind", "latency"}, {"latency_ms", 2000},
                      {"count", 2}});
  std::atomic<bool> stop{false};
  std::atomic<double> max_reserved{0}, max_buffered{0};
  std::thread sampler([&] {
    while (!stop) {
      auto text = HttpGet(gateway_.admin_port, "/metrics");
      if (text.ok()) {
        const double r = MetricValue(*text, "tl_gateway_upload_memory_reserved_bytes");
        const double b = MetricValue(*text, "tl_gateway_asset_upload_chunk_bytes_buffered") +
                         MetricValue(*text, "tl_gateway_upload_bytes_buffered");
        if (r > max_reserved) max_reserved = r;
        if (b > max_buffered) max_buffered = b;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  const File file(kSmallMultipart, 7);
  const double working_set = 2 * kSimChunk + kSimChunk / 4 + 4 * kMiB;
  EXPECT_EQ(Metric("tl_gateway_upload_memory_limit_bytes"), kBudget);

  // Two uploads open their sessions and send 2 MiB, then pause.
  struct Open {
    std::unique_ptr<grpc::ClientContext> ctx = Ctx(absl::Minutes(2));
    gw::Asset asset;
    std::unique_ptr<grpc::ClientWriter<gw::UploadAssetRequest>> writer;
  };
  std::vector<std::unique_ptr<Open>> open;
  for (int i = 0; i < 2; ++i) {
    auto o = std::make_unique<Open>();
    o->writer = assets_->UploadAsset(o->ctx.get(), &o->asset);
    ASSERT_TRUE(o->writer->Write(Header(file.size(), absl::StrCat("held-", i, ".mp4"))));
    ASSERT_TRUE(o->writer->Write(Chunk(file.Bytes(0, kMiB))));
    ASSERT_TRUE(o->writer->Write(Chunk(file.Bytes(kMiB, kMiB))));
    ASSERT_TRUE(Eventually([&] { return Metric("tl_gateway_upload_memory_reserved_bytes") == (i + 1) * working_set; },
                           "the session opened and its reservation shrank to its working set"));
    open.push_back(std::move(o));
  }
  EXPECT_EQ(Sessions(), 2);

  // Three more at once: none fits (12.5 MiB reserved, each needs 8).
  std::vector<grpc::Status> refused(3);
  std::vector<std::thread> more;
  for (int i = 0; i < 3; ++i) {
    more.emplace_back([&, i] {
      gw::Asset asset;
      gw::UploadAssetRequest header = Header(file.size(), absl::StrCat("extra-", i, ".mp4"));
      header.mutable_header()->set_request_id(absl::StrCat("budget-extra-", i));
      refused[i] = Stream(header, file, 0, &asset, [](int64_t at, grpc::ClientContext*) { return at < 2 * kMiB; });
    });
  }
  for (auto& t : more) t.join();
  for (const grpc::Status& s : refused) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    auto info = tlgw::ErrorInfoOf(s);
    EXPECT_TRUE(info.has_value() && info->reason() == "UPLOAD_CAPACITY") << s.error_message();
    EXPECT_TRUE(tlgw::RetryDelayOf(s).has_value());
  }
  EXPECT_EQ(Sessions(), 2) << "a refused upload reached the simulator";
  EXPECT_EQ(Metric("tl_gateway_upload_capacity_refusals_total"), 3);

  // The two end (cancelled; their stalled PUTs finish): the budget is free.
  for (auto& o : open) {
    o->ctx->TryCancel();
    EXPECT_EQ(o->writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(Eventually([&] { return Metric("tl_gateway_upload_memory_reserved_bytes") == 0; },
                         "every reservation given back"));

  // A refused one retried now runs through, with its request_id.
  gw::UploadAssetRequest header = Header(file.size(), "extra-0.mp4");
  header.mutable_header()->set_request_id("budget-extra-0");
  gw::Asset asset;
  grpc::Status s = Stream(header, file, 0, &asset);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(asset.method(), gw::ASSET_METHOD_MULTIPART);
  EXPECT_EQ(Sessions(), 3);
  EXPECT_EQ(Metric("tl_gateway_upload_memory_reserved_bytes"), 0);
  stop = true;
  sampler.join();
  std::cout << "most reserved " << max_reserved / kMiB << " MiB, most held " << max_buffered / kMiB
            << " MiB, budget " << kBudget / kMiB << " MiB\n";
  EXPECT_LE(max_reserved, kBudget);
  EXPECT_GT(max_reserved, 0);
  EXPECT_LE(max_buffered, kBudget) << "the uploads held more than the budget";
}

class UploadAndIndexE2E : public AssetUploadE2E {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator({absl::StrCat("--multipart_chunk_bytes=", kServerChunk)}));
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    audit_path_ = TempPath("upload-and-index-audit.jsonl");
    args.extra_args = {"--asset_upload_chunks_in_flight=4", "--watch_interval_seconds=0.2",
                       "--watch_min_interval_seconds=0.1", "--audit_log=" + audit_path_};
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    assets_ = gw::AssetService::NewStub(gateway_.channel);
  }
  static gw::UploadAndIndexRequest IndexHeader(const gw::UploadAssetRequest& upload,
                                               const std::string& index_id = kSeedIndex) {
    gw::UploadAndIndexRequest r;
    *r.mutable_header()->mutable_upload() = upload.header();
    r.mutable_header()->set_index_id(index_id);
    return r;
  }
  grpc::Status StreamAndIndex(const gw::UploadAndIndexRequest& header, const File& file, gw::IndexedAsset* out) {
    auto ctx = Ctx(absl::Minutes(2));
    auto writer = assets_->UploadAndIndex(ctx.get(), out);
    if (!writer->Write(header)) return writer->Finish();
    for (int64_t at = 0; at < file.size(); at += kMessage) {
      gw::UploadAndIndexRequest m;
      m.set_chunk(file.Bytes(at, std::min(kMessage, file.size() - at)));
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }
  int Count(const std::string& method, const std::string& path) {
    int n = 0;
    for (const auto& r : control_->Requests(path)) n += r["method"] == method && r["path"] == path;
    return n;
  }
  // The audit lines written so far.
  std::vector<json> AuditLines() {
    std::vector<json> out;
    std::ifstream in(audit_path_);
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line, nullptr, false));
    return out;
  }

  std::string audit_path_;
};

TEST_F(UploadAndIndexE2E, UploadWaitsForReadyIndexesAndIsWatchedToReady) {
  const File file(3 * kMiB + 11, 9);
  gw::UploadAndIndexRequest header = IndexHeader(Header(file.size(), "indexed.mp4"));
  header.mutable_header()->set_enable_video_stream(true);
  (*header.mutable_header()->mutable_index_user_metadata()->mutable_fields())["team"].set_string_value("news");
  gw::IndexedAsset indexed;
  grpc::Status s;
  std::thread call([&] { s = StreamAndIndex(header, file, &indexed); });
  // The file arrived; the asset processes until the simulator's clock moves.
  ASSERT_TRUE(Eventually([&] { return Count("POST", "/v1.3/assets") == 1; }, "the direct POST"));
  json post = control_->Requests("/v1.3/assets")[0];
  std::string asset_id;  // from the asset's polls: GET /v1.3/assets/{id}
  ASSERT_TRUE(Eventually(
      [&] {
        for (const json& r : control_->Requests("/v1.3/assets/")) {
          if (r["method"] == "GET") asset_id = std::string(r["path"]).substr(strlen("/v1.3/assets/"));
        }
        return !asset_id.empty();
      },
      "the asset to be polled"));
  const std::string indexed_path = std::string("/v1.3/indexes/") + kSeedIndex + "/indexed-assets";
  EXPECT_EQ(Count("POST", indexed_path), 0) << "nothing is indexed while the asset processes";
  control_->AdvanceClock(5);  // processing -> ready
  call.join();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(indexed.index_id(), kSeedIndex);
  EXPECT_EQ(indexed.asset_id(), asset_id);
  EXPECT_EQ(post["form"]["method"], "direct");
  EXPECT_EQ(post["files"]["file"]["sha256"], absl::BytesToHexString(Sha256(file.Bytes(0, file.size()))));
  json creates = control_->Requests(indexed_path);
  int posts = 0;
  for (const json& r : creates) {
    if (r["method"] != "POST" || r["path"] != indexed_path) continue;
    ++posts;
    EXPECT_EQ(r["api_key"], kTestApiKey);
    EXPECT_EQ(r["status"], 202) << r.dump();
    const json& body = r["json"];
    EXPECT_EQ(body["asset_id"], indexed.asset_id()) << r.dump();
    EXPECT_EQ(body["enable_video_stream"], true) << r.dump();
    EXPECT_EQ(body["user_metadata"]["team"], "news") << r.dump();
  }
  EXPECT_EQ(posts, 1) << creates.dump();

  // Watched through to ready: pending, queued, indexing, ready.
  control_->AdvanceClock(10);
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
}

TEST_F(UploadAndIndexE2E, RequestIdUploadsAndIndexesOnce) {
  const File file(2 * kMiB + 1, 24);
  gw::UploadAndIndexRequest header = IndexHeader(Header(file.size(), "indexed-once.mp4"));
  header.mutable_header()->mutable_upload()->set_request_id("e2e-upload-and-index-once");
  gw::IndexedAsset first;
  grpc::Status s;
  std::thread call([&] { s = StreamAndIndex(header, file, &first); });
  ASSERT_TRUE(Eventually([&] { return Count("POST", "/v1.3/assets") == 1; }, "the direct POST"));
  control_->AdvanceClock(5);  // processing -> ready
  call.join();
  ASSERT_TRUE(s.ok()) << s.error_message();

  gw::IndexedAsset again;
  s = StreamAndIndex(header, file, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(again.asset_id(), first.asset_id());
  const std::string indexed_path = std::string("/v1.3/indexes/") + kSeedIndex + "/indexed-assets";
  EXPECT_EQ(Count("POST", "/v1.3/assets"), 1);
  EXPECT_EQ(Count("POST", indexed_path), 1);

  // The audit lines name the index and the file.
  std::vector<json> lines;
  ASSERT_TRUE(Eventually(
      [&] {
        lines.clear();
        for (json& j : AuditLines()) {
          if (j.is_object() && j["method"] == "/twelvelabs.gateway.v1.AssetService/UploadAndIndex") lines.push_back(j);
        }
        return lines.size() >= 2;
      },
      "two UploadAndIndex audit lines"));
  for (const json& j : lines) {
    EXPECT_EQ(j["code"], "OK") << j.dump();
    EXPECT_EQ(j["resources"]["index_id"], kSeedIndex) << j.dump();
    EXPECT_FALSE(j["resources"].contains("filename")) << "the audit keeps ids, not client text: " << j.dump();
  }

  // Another index under the same request_id is refused.
  gw::UploadAndIndexRequest other = header;
  other.mutable_header()->set_enable_video_stream(true);
  s = StreamAndIndex(other, file, &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(Count("POST", "/v1.3/assets"), 1);
  EXPECT_EQ(Count("POST", indexed_path), 1);
}

TEST_F(UploadAndIndexE2E, BadIndexIsRefusedBeforeAnyRequestReachesTheSimulator) {
  const File file(100, 10);
  for (const std::string& index_id : {std::string(), std::string("not-an-index")}) {
    control_->ClearRequests();
    gw::IndexedAsset out;
    grpc::Status s = StreamAndIndex(IndexHeader(Header(file.size()), index_id), file, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << index_id << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "index_id")) << s.error_message();
    EXPECT_EQ(control_->Requests().size(), 0u) << control_->Requests().dump();
  }
}

class AssetUploadV12E2E : public E2EFixture<> {};

TEST_F(AssetUploadV12E2E, NamesV13WithoutARequest) {
  ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
  GatewayArgs args;
  args.upstream_url = sim_.Url("v1.2");
  ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
  auto assets = gw::AssetService::NewStub(gateway_.channel);
  auto ctx = Ctx();
  gw::Asset asset;
  auto writer = assets->UploadAsset(ctx.get(), &asset);
  gw::UploadAssetRequest header;
  header.mutable_header()->set_filename("a.mp4");
  header.mutable_header()->set_type(gw::ASSET_TYPE_VIDEO);
  header.mutable_header()->set_size_bytes(3);
  writer->Write(header);
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "v1.3")) << s.error_message();
  EXPECT_EQ(control_->Requests().size(), 0u);
}

}  // namespace
}  // namespace tltest
