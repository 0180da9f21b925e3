// UploadAsset and GetUpload in process (service_harness.h): the direct and
// multipart paths against the fake upstream, continuation after a lost
// stream, ownership, and every bad stream refused before any upstream call.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/status_details.h"
#include "server/services/create_flow.h"
#include "server/services/multipart_uploader.h"
#include "tests/server/services/service_harness.h"

namespace tlgw::testing {
namespace {

using Harness = ServiceHarness;

gw::UploadAssetRequest Header(int64_t size, const std::string& filename = "clip.mp4",
                              gw::AssetType type = gw::ASSET_TYPE_VIDEO) {
  gw::UploadAssetRequest r;
  r.mutable_header()->set_filename(filename);
  r.mutable_header()->set_type(type);
  r.mutable_header()->set_size_bytes(size);
  return r;
}

gw::UploadAssetRequest Resume(const std::string& upload_id, int64_t size, int64_t offset) {
  gw::UploadAssetRequest r;
  r.mutable_header()->set_upload_id(upload_id);
  r.mutable_header()->set_size_bytes(size);
  r.mutable_header()->set_resume_offset(offset);
  return r;
}

gw::UploadAssetRequest Chunk(std::string bytes) {
  gw::UploadAssetRequest r;
  r.set_chunk(std::move(bytes));
  return r;
}

// `bytes` as messages of `piece` bytes.
std::vector<gw::UploadAssetRequest> Pieces(const std::string& bytes, size_t piece) {
  std::vector<gw::UploadAssetRequest> out;
  for (size_t at = 0; at < bytes.size(); at += piece) out.push_back(Chunk(bytes.substr(at, piece)));
  return out;
}

// Moves the fake clock on in small steps while a test waits for a call,
// so backoffs pass; far too slowly to reach the idle timeout.
class Ticker {
 public:
  explicit Ticker(FakeClock* clock) : thread_([this, clock] {
      while (!stop_) {
        clock->Advance(absl::Milliseconds(1));
        absl::SleepFor(absl::Milliseconds(1));
      }
    }) {}
  ~Ticker() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

constexpr int64_t kChunk = 1000;

std::string Reason(const grpc::Status& s) {
  auto info = ErrorInfoOf(s);
  return info ? info->reason() : "";
}

class AssetUploadTest : public ::testing::Test {
 protected:
  explicit AssetUploadTest(ApiVersion version = ApiVersion::kV1_3, GatewayConfig config = DefaultConfig())
      : h_(std::move(config), WatchOptions(), version) {
    // Small files take the multipart path: 1000-byte chunks, 2 URLs with
    // a new session, backoffs of a millisecond.
    h_.deps().asset_direct_max_bytes = 2000;
    h_.deps().asset_upload.initial_backoff = absl::Milliseconds(1);
    h_.deps().asset_upload.max_backoff = absl::Milliseconds(1);
    h_.deps().asset_upload.report_batch = 8;
    h_.api().set_multipart(kChunk, 2);
  }

  grpc::Status Send(const std::vector<gw::UploadAssetRequest>& messages, gw::Asset* asset,
                    const std::string& token = kMediaToken) {
    auto ctx = Harness::Ctx(token);
    auto writer = h_.assets()->UploadAsset(ctx.get(), asset);
    for (const auto& m : messages) {
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }
  grpc::Status Upload(const std::string& file, gw::Asset* asset, size_t piece = 700) {
    std::vector<gw::UploadAssetRequest> m = {Header(static_cast<int64_t>(file.size()))};
    for (auto& c : Pieces(file, piece)) m.push_back(std::move(c));
    return Send(m, asset);
  }
  std::string UploadIdOf(const std::string& asset_id) {
    for (const auto& c : h_.api().calls()) {
      if (c.method == "ReportChunks" || c.method == "GetPresignedUrls") {
        auto s = h_.api().session(c.id);
        if (s && s->asset_id == asset_id) return c.id;
      }
    }
    return "";
  }

  Harness h_;
};

TEST_F(AssetUploadTest, SmallFileIsStreamedIntoOneDirectPost) {
  const std::string file = Bytes(1500, 1);
  gw::Asset asset;
  grpc::Status s = Upload(file, &asset, 400);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(asset.method(), gw::ASSET_METHOD_DIRECT);
  ASSERT_EQ(h_.api().uploaded().size(), 1u);
  EXPECT_EQ(h_.api().uploaded()[0], file);
  auto calls = h_.api().calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "UploadAssetDirect");
  EXPECT_EQ(calls[0].opts.api_key, kMediaKey);
  EXPECT_EQ(*h_.store().Owner(asset.id()), "media");
}

TEST_F(AssetUploadTest, LargeFileIsRecutIntoServerChunksPutAndReportedInBatches) {
  const std::string file = Bytes(25 * kChunk + 500, 2);  // 26 chunks, the last of 500 bytes
  gw::Asset asset;
  grpc::Status s = Upload(file, &asset, 700);  // messages straddle chunk boundaries
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(asset.method(), gw::ASSET_METHOD_MULTIPART);
  const std::string upload_id = UploadIdOf(asset.id());
  ASSERT_FALSE(upload_id.empty());
  EXPECT_EQ(h_.api().assembled(upload_id), file) << "every chunk arrived, in place";
  EXPECT_EQ(h_.api().largest_put(), static_cast<size_t>(kChunk));
  auto session = h_.api().session(upload_id);
  ASSERT_TRUE(session.has_value());
  EXPECT_TRUE(session->completed);
  EXPECT_EQ(h_.api().count("PutChunk"), 26);
  EXPECT_EQ(h_.api().count("CreateMultipartUpload"), 1);
  EXPECT_GE(h_.api().count("GetPresignedUrls"), 1) << "the session carried 2 URLs for 26 chunks";
  const int reports = h_.api().count("ReportChunks");
  EXPECT_GE(reports, 2);
  EXPECT_LE(reports, 26 / 8 + 2) << "in batches, not one report per chunk";
  EXPECT_EQ(h_.api().count("GetAsset"), 1) << "answered with the asset as read after the last report";
  // The session and the asset are the tenant's from the start.
  EXPECT_EQ(*h_.store().Owner(upload_id), "media");
  EXPECT_EQ(*h_.store().Owner(asset.id()), "media");
  for (const auto& c : h_.api().calls()) EXPECT_EQ(c.opts.api_key, kMediaKey) << c.method;
}

TEST_F(AssetUploadTest, FailedPutIsRetriedFromMemoryWithAFreshUrl) {
  Ticker ticker(&h_.clock());
  h_.api().FailNext("PutChunk", absl::UnavailableError("the store failed"));
  h_.api().FailNext("PutChunk", absl::PermissionDeniedError("Request has expired"));
  const std::string file = Bytes(6 * kChunk, 3);
  gw::Asset asset;
  grpc::Status s = Upload(file, &asset);
  ASSERT_TRUE(s.ok()) << Describe(s);
  const std::string upload_id = UploadIdOf(asset.id());
  EXPECT_EQ(h_.api().assembled(upload_id), file);
  EXPECT_EQ(h_.api().count("PutChunk"), 6 + 2);
  // Each retry took a URL not used before (the fake refuses a used one).
  EXPECT_GE(h_.api().count("GetPresignedUrls"), 2);
}

TEST_F(AssetUploadTest, ExpiredUrlsAreReplaced) {
  Ticker ticker(&h_.clock());
  // The session's two URLs are refused: their chunks get fresh ones.
  h_.api().hold(true);
  const std::string file = Bytes(4 * kChunk, 4);
  gw::Asset asset;
  grpc::Status status;
  std::thread upload([&] { status = Upload(file, &asset); });
  ASSERT_TRUE(h_.api().AwaitHeld(1));
  ASSERT_TRUE(h_.api().CompleteNext());  // CreateMultipartUpload
  h_.api().ExpireUrls();
  h_.api().hold(false);
  // Calls held meanwhile are answered now; later ones at once.
  while (h_.api().held() > 0 || h_.api().count("GetAsset") == 0) {
    h_.api().CompleteAll();
    absl::SleepFor(absl::Milliseconds(2));
    if (h_.api().count("GetAsset") > 0) break;
  }
  upload.join();
  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(h_.api().assembled(UploadIdOf(asset.id())), file);
  EXPECT_GE(h_.api().count("PutChunk"), 4 + 1) << "at least one refused URL was replaced";
}

TEST_F(AssetUploadTest, PutThatKeepsFailingEndsTheUploadAfterBoundedAttempts) {
  Ticker ticker(&h_.clock());
  for (int i = 0; i < 20; ++i) h_.api().FailNext("PutChunk", absl::UnavailableError("down"));
  gw::Asset asset;
  grpc::Status s = Upload(Bytes(3 * kChunk, 5), &asset);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "upload_id")) << "says how to continue: " << Describe(s);
  EXPECT_LE(h_.api().count("PutChunk"), 3 * 4) << "attempts per chunk are bounded";
}

TEST_F(AssetUploadTest, LostStreamIsContinuedWithGetUploadAndUploadId) {
  const std::string file = Bytes(10 * kChunk + 300, 6);
  // The first stream carries 4.5 chunks, then ends short.
  std::vector<gw::UploadAssetRequest> first = {Header(static_cast<int64_t>(file.size()))};
  for (auto& c : Pieces(file.substr(0, 4 * kChunk + 500), 700)) first.push_back(std::move(c));
  gw::Asset unused;
  grpc::Status s = Send(first, &unused);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "GetUpload")) << Describe(s);
  ASSERT_EQ(h_.api().count("CreateMultipartUpload"), 1);
  std::string upload_id;
  for (const auto& c : h_.api().calls()) {
    if (c.method == "GetPresignedUrls" || c.method == "ReportChunks") upload_id = c.id;
  }
  ASSERT_FALSE(upload_id.empty());

  // What arrived: chunks 1-4 (reported as the upload stopped).
  gw::Upload up;
  for (int i = 0; i < 500; ++i) {  // the wind-down's report may trail the answer
    up.Clear();
    grpc::Status g = h_.assets()->GetUpload(Harness::Ctx(kMediaToken).get(), [&] {
      gw::GetUploadRequest r;
      r.set_upload_id(upload_id);
      return r;
    }(), &up);
    ASSERT_TRUE(g.ok()) << Describe(g);
    if (up.chunks_completed() == 4) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(up.status(), gw::UPLOAD_STATUS_ACTIVE);
  EXPECT_EQ(up.total_chunks(), 11);
  EXPECT_EQ(up.chunk_size_bytes(), kChunk);
  ASSERT_EQ(up.completed_chunks_size(), 1);
  EXPECT_EQ(up.completed_chunks(0).first(), 1);
  EXPECT_EQ(up.completed_chunks(0).last(), 4);
  EXPECT_EQ(up.resume_offset(), 4 * kChunk);

  // Another tenant cannot see or continue it.
  gw::GetUploadRequest other;
  other.set_upload_id(upload_id);
  gw::Upload ignored_upload;
  gw::Asset ignored;
  EXPECT_EQ(h_.assets()->GetUpload(Harness::Ctx(kNewsToken).get(), other, &ignored_upload).error_code(),
            grpc::StatusCode::NOT_FOUND);
  std::vector<gw::UploadAssetRequest> foreign = {Resume(upload_id, static_cast<int64_t>(file.size()), 4 * kChunk)};
  EXPECT_EQ(Send(foreign, &ignored, kNewsToken).error_code(), grpc::StatusCode::NOT_FOUND);

  // A wrong offset or size is refused.
  const int puts = h_.api().count("PutChunk");
  std::vector<gw::UploadAssetRequest> past = {Resume(upload_id, static_cast<int64_t>(file.size()), 5 * kChunk)};
  s = Send(past, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_EQ(Reason(s), "BAD_RESUME_OFFSET");
  std::vector<gw::UploadAssetRequest> resized = {Resume(upload_id, static_cast<int64_t>(file.size()) + 1, 4 * kChunk)};
  EXPECT_EQ(Send(resized, &ignored).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(h_.api().count("PutChunk"), puts);

  // The rest, from an earlier chunk boundary: chunk 3 and 4 are skipped.
  std::vector<gw::UploadAssetRequest> rest = {Resume(upload_id, static_cast<int64_t>(file.size()), 2 * kChunk)};
  for (auto& c : Pieces(file.substr(2 * kChunk), 900)) rest.push_back(std::move(c));
  gw::Asset asset;
  s = Send(rest, &asset);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(asset.id(), h_.api().session(upload_id)->asset_id);
  EXPECT_EQ(h_.api().assembled(upload_id), file);
  EXPECT_EQ(h_.api().count("PutChunk"), puts + 7) << "chunks 5-11 only";
}

TEST_F(AssetUploadTest, CompletedUploadCannotBeContinued) {
  const std::string file = Bytes(3 * kChunk, 7);
  gw::Asset asset;
  ASSERT_TRUE(Upload(file, &asset).ok());
  std::vector<gw::UploadAssetRequest> again = {Resume(UploadIdOf(asset.id()), 3 * kChunk, 0)};
  gw::Asset ignored;
  grpc::Status s = Send(again, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), asset.id())) << "names the asset it made: " << Describe(s);
}

TEST_F(AssetUploadTest, BadStreamsAreRefusedBeforeAnyUpstreamCall) {
  struct Case {
    std::string name;
    std::vector<gw::UploadAssetRequest> messages;
    grpc::StatusCode code;
  };
  auto with = [](int64_t size, std::function<void(gw::UploadAssetHeader*)> edit) {
    gw::UploadAssetRequest r = Header(size);
    edit(r.mutable_header());
    return r;
  };
  std::vector<Case> cases = {
      {"empty stream", {}, grpc::StatusCode::INVALID_ARGUMENT},
      {"chunk first", {Chunk("abc"), Header(3)}, grpc::StatusCode::INVALID_ARGUMENT},
      {"empty file", {Header(0)}, grpc::StatusCode::INVALID_ARGUMENT},
      {"negative size", {Header(-5)}, grpc::StatusCode::INVALID_ARGUMENT},
      {"no file name", {Header(10, "")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"path in file name", {Header(10, "../etc/passwd")}, grpc::StatusCode::INVALID_ARGUMENT},
      {"no type", {Header(10, "a.mp4", gw::ASSET_TYPE_UNSPECIFIED)}, grpc::StatusCode::INVALID_ARGUMENT},
      {"image over 32 MB", {Header(32'000'001, "a.jpg", gw::ASSET_TYPE_IMAGE)}, grpc::StatusCode::OUT_OF_RANGE},
      {"video over 10 GB", {Header(10'000'000'001)}, grpc::StatusCode::OUT_OF_RANGE},
      {"bad request_id", {with(10, [](auto* h) { h->set_request_id("r 1"); })}, grpc::StatusCode::INVALID_ARGUMENT},
      {"continuation with a request_id",
       {[] {
          gw::UploadAssetRequest r = Resume("6a0000000000000000000001", 10, 0);
          r.mutable_header()->set_request_id("r1");
          return r;
        }()},
       grpc::StatusCode::INVALID_ARGUMENT},
      {"nested metadata",
       {with(10, [](auto* h) {
          (*(*h->mutable_user_metadata()->mutable_fields())["x"].mutable_struct_value()->mutable_fields())["y"]
              .set_number_value(1);
        })},
       grpc::StatusCode::INVALID_ARGUMENT},
      {"offset without upload_id", {with(10, [](auto* h) { h->set_resume_offset(5); })},
       grpc::StatusCode::INVALID_ARGUMENT},
      {"continuation with a file name", {with(10, [](auto* h) { h->set_upload_id("6a0000000000000000000001"); })},
       grpc::StatusCode::INVALID_ARGUMENT},
      {"continuation of a bad id", {Resume("nope", 10, 0)}, grpc::StatusCode::INVALID_ARGUMENT},
      {"continuation offset past the end", {Resume("6a0000000000000000000001", 10, 10)},
       grpc::StatusCode::INVALID_ARGUMENT},
  };
  for (const Case& c : cases) {
    h_.api().hold(true);  // a header that passes would open a session: held, never answered
    gw::Asset asset;
    grpc::Status s = Send(c.messages, &asset);
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << Describe(s);
    EXPECT_FALSE(s.error_message().empty()) << c.name;
    EXPECT_TRUE(h_.api().calls().empty()) << c.name << ": " << h_.api().calls()[0].method;
    h_.api().hold(false);
    h_.api().CompleteAll();
  }
  // Known only upstream: a header sent twice (after the session opened),
  // and a continuation of an upload no one has.
  gw::Asset asset;
  grpc::Status s = Send({Header(5000), Header(5000)}, &asset);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  s = Send({Resume("6a0000000000000000000001", 10, 0)}, &asset);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(s);
}

TEST_F(AssetUploadTest, WrongByteCountsAndOversizedMessagesAreRefused) {
  gw::Asset asset;
  // More bytes than declared (direct path): the POST is aborted, no asset.
  grpc::Status s = Send({Header(100), Chunk(Bytes(60, 1)), Chunk(Bytes(60, 2))}, &asset);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << Describe(s);
  EXPECT_EQ(Reason(s), "MORE_BYTES_THAN_DECLARED");
  // Fewer.
  s = Send({Header(100), Chunk(Bytes(60, 1))}, &asset);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  // A message over 4 MiB.
  s = Send({Header(5 << 20), Chunk(std::string((4 << 20) + 1, 'x'))}, &asset);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE) << Describe(s);
  EXPECT_EQ(Reason(s), "CHUNK_TOO_LARGE");
  EXPECT_TRUE(h_.api().uploaded().empty()) << "no direct upload completed";
}

TEST_F(AssetUploadTest, IdleClientIsCutOff) {
  auto ctx = Harness::Ctx(kMediaToken);
  gw::Asset asset;
  auto writer = h_.assets()->UploadAsset(ctx.get(), &asset);
  ASSERT_TRUE(writer->Write(Header(5000)));
  // Wait until the session is open (the server is then waiting for bytes).
  for (int i = 0; i < 500 && h_.api().count("CreateMultipartUpload") == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  h_.clock().Advance(absl::Seconds(61));
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(s);
  EXPECT_EQ(Reason(s), "UPLOAD_IDLE_TIMEOUT");
}

// ---- request_id ------------------------------------------------------------------

gw::UploadAssetRequest WithId(gw::UploadAssetRequest r, const std::string& request_id) {
  r.mutable_header()->set_request_id(request_id);
  return r;
}

// A repeat of a completed upload is answered from the first: here the
// client sends its header and nothing else, and still gets the asset
// (a stream the gateway read on would wait for the bytes, then time out).
TEST_F(AssetUploadTest, RepeatWithTheRequestIdAnswersTheFirstAssetWithoutReadingTheStream) {
  for (int64_t size : {int64_t{1500}, int64_t{4500}}) {  // direct, then multipart
    SCOPED_TRACE(size);
    const std::string rid = absl::StrCat("up-once-", size);
    const std::string file = Bytes(size, 11);
    std::vector<gw::UploadAssetRequest> m = {WithId(Header(size), rid)};
    for (auto& c : Pieces(file, 700)) m.push_back(std::move(c));
    gw::Asset first;
    grpc::Status s = Send(m, &first);
    ASSERT_TRUE(s.ok()) << Describe(s);
    const int direct = h_.api().count("UploadAssetDirect");
    const int sessions = h_.api().count("CreateMultipartUpload");
    const int puts = h_.api().count("PutChunk");

    auto ctx = Harness::Ctx(kMediaToken);
    gw::Asset again;
    auto writer = h_.assets()->UploadAsset(ctx.get(), &again);
    ASSERT_TRUE(writer->Write(WithId(Header(size), rid)));
    s = writer->Finish();  // no chunk sent, the stream left open
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(again.id(), first.id());
    EXPECT_EQ(h_.api().count("UploadAssetDirect"), direct);
    EXPECT_EQ(h_.api().count("CreateMultipartUpload"), sessions);
    EXPECT_EQ(h_.api().count("PutChunk"), puts);
    EXPECT_EQ(*h_.store().Owner(first.id()), "media");
  }
  EXPECT_EQ(h_.api().count("UploadAssetDirect"), 1);
  EXPECT_EQ(h_.api().count("CreateMultipartUpload"), 1);
}

TEST_F(AssetUploadTest, RequestIdReusedWithAnotherHeaderIsRefused) {
  gw::Asset first, other;
  ASSERT_TRUE(Send({WithId(Header(1500), "up-mismatch"), Chunk(Bytes(1500, 12))}, &first).ok());
  gw::UploadAssetRequest changed = WithId(Header(1500, "other.mp4"), "up-mismatch");
  grpc::Status s = Send({changed, Chunk(Bytes(1500, 12))}, &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_EQ(BadFieldsOf(s), std::vector<std::string>{"request_id"});
  EXPECT_EQ(h_.api().count("UploadAssetDirect"), 1);
  // Another tenant's request_ids are its own.
  ASSERT_TRUE(Send({WithId(Header(1500), "up-mismatch"), Chunk(Bytes(1500, 12))}, &other, kNewsToken).ok());
  EXPECT_NE(other.id(), first.id());
}

TEST_F(AssetUploadTest, RepeatWhileTheFirstUploadRunsIsAbortedWithRetryInfo) {
  const std::string file = Bytes(4500, 13);
  auto ctx = Harness::Ctx(kMediaToken);
  gw::Asset first;
  auto writer = h_.assets()->UploadAsset(ctx.get(), &first);
  ASSERT_TRUE(writer->Write(WithId(Header(4500), "up-slow")));
  ASSERT_TRUE(writer->Write(Chunk(file.substr(0, 1000))));
  for (int i = 0; i < 500 && h_.api().count("CreateMultipartUpload") == 0; ++i) absl::SleepFor(absl::Milliseconds(10));

  gw::Asset second;
  grpc::Status s = Send({WithId(Header(4500), "up-slow"), Chunk(file)}, &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << Describe(s);
  EXPECT_EQ(Reason(s), "REQUEST_IN_PROGRESS");
  EXPECT_TRUE(RetryDelayOf(s).has_value());

  for (auto& c : Pieces(file.substr(1000), 700)) ASSERT_TRUE(writer->Write(c));
  writer->WritesDone();
  s = writer->Finish();
  ASSERT_TRUE(s.ok()) << Describe(s);
  s = Send({WithId(Header(4500), "up-slow")}, &second);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(second.id(), first.id());
  EXPECT_EQ(h_.api().count("CreateMultipartUpload"), 1);
  EXPECT_EQ(h_.api().assembled(UploadIdOf(first.id())), file);
}

TEST_F(AssetUploadTest, UploadCutShortReleasesItsRequestIdForARetry) {
  for (int64_t size : {int64_t{1500}, int64_t{4500}}) {  // direct, then multipart
    SCOPED_TRACE(size);
    const std::string rid = absl::StrCat("up-retry-", size);
    const std::string file = Bytes(size, 14);
    gw::Asset asset;
    // The client's stream ends early.
    grpc::Status s = Send({WithId(Header(size), rid), Chunk(file.substr(0, 1200))}, &asset);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
    // The client cancels mid-stream.
    {
      auto ctx = Harness::Ctx(kMediaToken);
      auto writer = h_.assets()->UploadAsset(ctx.get(), &asset);
      ASSERT_TRUE(writer->Write(WithId(Header(size), rid)));
      ASSERT_TRUE(writer->Write(Chunk(file.substr(0, 700))));
      ctx->TryCancel();
      EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
    }
    std::vector<gw::UploadAssetRequest> m = {WithId(Header(size), rid)};
    for (auto& c : Pieces(file, 700)) m.push_back(std::move(c));
    // The server may hear of the cancel after the client: until then the
    // first upload still runs (ABORTED, REQUEST_IN_PROGRESS).
    s = Send(m, &asset);
    for (int i = 0; i < 200 && s.error_code() == grpc::StatusCode::ABORTED; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
      s = Send(m, &asset);
    }
    ASSERT_TRUE(s.ok()) << Describe(s) << ": a failed upload may be tried again at once";
    EXPECT_EQ(h_.api().count("ListAssets"), 0) << "nothing to look for: the bytes never all arrived";
  }
  ASSERT_EQ(h_.api().uploaded().size(), 1u) << "one direct upload completed";
  EXPECT_EQ(h_.api().uploaded()[0], Bytes(1500, 14));
}

TEST_F(AssetUploadTest, AnUploadWhoseGatewayDiedIsAdoptedFromUpstream) {
  gw::UploadAssetRequest header = WithId(Header(1500, "crashed.mp4"), "up-crash");
  // What the gateway left: its claim, recorded before the POST.
  const absl::Time t0 = h_.clock().Now();
  gw::UploadAssetHeader covered = header.header();
  covered.clear_request_id();
  auto claim = h_.store().Claim(CreateScope("media", "UploadAsset"), "up-crash", RequestFingerprint(covered),
                                RequestStore::Attempt{"", "crashed.mp4", t0, t0 + absl::Seconds(3)});
  ASSERT_TRUE(claim.ok() && claim->outcome == RequestStore::Outcome::kNew);
  // And what upstream made of its POST: an asset no tenant owns.
  gw::Asset made;
  made.set_id("aaaaaaaaaaaaaaaaaaaaaa01");
  made.set_filename("crashed.mp4");
  made.set_status(gw::ASSET_STATUS_PROCESSING);
  made.set_status_text("processing");
  made.mutable_create_time()->set_seconds(absl::ToUnixSeconds(t0 + absl::Seconds(1)));
  h_.api().PutAsset(made);
  h_.clock().Advance(absl::Seconds(6));  // past the attempt's deadline and the store's margin

  gw::Asset asset;
  auto ctx = Harness::Ctx(kMediaToken);
  auto writer = h_.assets()->UploadAsset(ctx.get(), &asset);
  ASSERT_TRUE(writer->Write(header));
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(asset.id(), made.id());
  EXPECT_EQ(h_.api().count("UploadAssetDirect"), 0) << "adopted, not uploaded again";
  EXPECT_EQ(*h_.store().Owner(made.id()), "media");
}

class AssetUploadV12Test : public AssetUploadTest {
 protected:
  AssetUploadV12Test() : AssetUploadTest(ApiVersion::kV1_2) {}
};

TEST_F(AssetUploadV12Test, UploadAndIndexNamesV13) {
  auto ctx = Harness::Ctx(kMediaToken);
  gw::IndexedAsset ia;
  auto writer = h_.assets()->UploadAndIndex(ctx.get(), &ia);
  gw::UploadAndIndexRequest m;
  m.mutable_header()->set_index_id(kIndexA);
  *m.mutable_header()->mutable_upload() = Header(10).header();
  writer->Write(m);
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "v1.3")) << Describe(s);
  EXPECT_TRUE(h_.api().calls().empty());
}

TEST_F(AssetUploadV12Test, UploadAndGetUploadNameV13) {
  gw::Asset asset;
  grpc::Status s = Send({Header(10), Chunk("0123456789")}, &asset);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "v1.3")) << Describe(s);
  gw::GetUploadRequest req;
  req.set_upload_id("6a0000000000000000000001");
  gw::Upload up;
  s = h_.assets()->GetUpload(Harness::Ctx(kMediaToken).get(), req, &up);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_TRUE(h_.api().calls().empty());
}

// ---- UploadAndIndex ----------------------------------------------------------------

constexpr char kIndexerToken[] = "tlgw_indexer_token";

// DefaultConfig plus a media client that may upload and index, on kIndexA only.
GatewayConfig WithIndexer(GatewayConfig c) {
  ClientConfig r = Client("indexer", kIndexerToken, "media", {"AssetService.UploadAndIndex"});
  r.indexes = {kIndexA};
  c.clients.push_back(r);
  return c;
}

gw::UploadAndIndexRequest IndexHeader(const gw::UploadAssetRequest& upload, const std::string& index_id = kIndexA) {
  gw::UploadAndIndexRequest r;
  *r.mutable_header()->mutable_upload() = upload.header();
  r.mutable_header()->set_index_id(index_id);
  return r;
}

// An UploadAndIndex call run on its own thread (it waits on the fake clock).
struct PendingUploadAndIndex {
  std::unique_ptr<grpc::ClientContext> ctx;
  gw::IndexedAsset resp;
  grpc::Status status;
  std::thread thread;
  std::atomic<bool> finished{false};
  ~PendingUploadAndIndex() {
    if (thread.joinable()) thread.join();
  }
  void Join() { thread.join(); }
};

class UploadAndIndexTest : public AssetUploadTest {
 protected:
  UploadAndIndexTest() : AssetUploadTest(ApiVersion::kV1_3, WithIndexer(DefaultConfig())) {}

  std::unique_ptr<PendingUploadAndIndex> Start(gw::UploadAndIndexRequest header, const std::string& file,
                                               const std::string& token = kMediaToken) {
    auto p = std::make_unique<PendingUploadAndIndex>();
    p->ctx = Harness::Ctx(token);
    p->thread = std::thread([this, raw = p.get(), header = std::move(header), file] {
      auto writer = h_.assets()->UploadAndIndex(raw->ctx.get(), &raw->resp);
      if (writer->Write(header)) {
        for (const auto& c : Pieces(file, 700)) {
          gw::UploadAndIndexRequest m;
          m.set_chunk(c.chunk());
          if (!writer->Write(m)) break;
        }
      }
      writer->WritesDone();
      raw->status = writer->Finish();
      raw->finished = true;
    });
    return p;
  }
  // Moves the fake clock on a second at a time until the call ends (at most
  // 8 s, inside the call's deadline), then joins it. One jump would race
  // the watch: a poll it arms just after the jump would wait for the next.
  void TickUntilDone(PendingUploadAndIndex* p) {
    for (int s = 0; s < 8 && !p->finished; ++s) {
      h_.clock().Advance(absl::Seconds(1));
      for (int i = 0; i < 50 && !p->finished; ++i) absl::SleepFor(absl::Milliseconds(1));
    }
    p->Join();
  }
  // The asset the watch reads (its first GetAsset). The wait counts as a
  // subscriber before that read is made: look for up to 5 s.
  std::string UploadedAssetId() {
    for (int i = 0; i < 5000; ++i) {
      for (const auto& c : h_.api().calls()) {
        if (c.method == "GetAsset") return c.id;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return "";
  }
  void SetAssetStatus(const std::string& id, gw::AssetStatus status, const std::string& text,
                      const std::string& error = "") {
    std::optional<gw::Asset> known = h_.api().asset(id);
    ASSERT_TRUE(known.has_value()) << "no asset '" << id << "'";
    gw::Asset a = *std::move(known);
    a.set_status(status);
    a.set_status_text(text);
    a.set_error_message(error);
    h_.api().PutAsset(a);
  }
};

TEST_F(UploadAndIndexTest, UploadsWaitsForTheAssetThenIndexesIt) {
  const std::string file = Bytes(1500, 3);
  gw::UploadAndIndexRequest header = IndexHeader(Header(1500));
  header.mutable_header()->set_enable_video_stream(true);
  (*header.mutable_header()->mutable_index_user_metadata()->mutable_fields())["team"].set_string_value("news");
  auto p = Start(header, file);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1)) << "waits on the asset's shared watch";
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 0) << "nothing indexed while the asset processes";
  const std::string asset_id = UploadedAssetId();
  ASSERT_FALSE(asset_id.empty());
  SetAssetStatus(asset_id, gw::ASSET_STATUS_READY, "ready");
  TickUntilDone(p.get());
  ASSERT_TRUE(p->status.ok()) << Describe(p->status);
  EXPECT_EQ(p->resp.asset_id(), asset_id);
  EXPECT_EQ(p->resp.index_id(), kIndexA);
  ASSERT_EQ(h_.api().uploaded().size(), 1u);
  EXPECT_EQ(h_.api().uploaded()[0], file);
  EXPECT_EQ(h_.api().count("UploadAssetDirect"), 1);
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 1);
  EXPECT_EQ(*h_.store().Owner(asset_id), "media");
  EXPECT_EQ(*h_.store().Owner(p->resp.id()), "media");
  EXPECT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 0));
}

TEST_F(UploadAndIndexTest, MultipartUploadIsIndexedToo) {
  const std::string file = Bytes(4500, 4);  // over asset_direct_max_bytes: multipart
  auto p = Start(IndexHeader(Header(4500)), file);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
  EXPECT_EQ(h_.api().count("CreateMultipartUpload"), 1);
  const std::string asset_id = UploadedAssetId();
  SetAssetStatus(asset_id, gw::ASSET_STATUS_READY, "ready");
  TickUntilDone(p.get());
  ASSERT_TRUE(p->status.ok()) << Describe(p->status);
  EXPECT_EQ(p->resp.asset_id(), asset_id);
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 1);
}

TEST_F(UploadAndIndexTest, FailedAssetIsFailedPrecondition) {
  auto p = Start(IndexHeader(Header(1500)), Bytes(1500, 5));
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
  SetAssetStatus(UploadedAssetId(), gw::ASSET_STATUS_FAILED, "failed", "unsupported codec");
  TickUntilDone(p.get());
  EXPECT_EQ(p->status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(p->status);
  EXPECT_EQ(Reason(p->status), "ASSET_FAILED");
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 0);
}

TEST_F(UploadAndIndexTest, CancelDuringTheWaitReleasesTheWatch) {
  auto p = Start(IndexHeader(Header(1500)), Bytes(1500, 6));
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
  p->ctx->TryCancel();
  p->Join();
  EXPECT_EQ(p->status.error_code(), grpc::StatusCode::CANCELLED) << Describe(p->status);
  EXPECT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 0));
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 0);
}

TEST_F(UploadAndIndexTest, RepeatWithTheRequestIdAnswersTheFirstIndexedAsset) {
  const std::string file = Bytes(4500, 15);
  gw::UploadAndIndexRequest header = IndexHeader(WithId(Header(4500), "uai-once"));
  auto p = Start(header, file);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
  SetAssetStatus(UploadedAssetId(), gw::ASSET_STATUS_READY, "ready");
  TickUntilDone(p.get());
  ASSERT_TRUE(p->status.ok()) << Describe(p->status);

  auto ctx = Harness::Ctx(kMediaToken);
  gw::IndexedAsset again;
  auto writer = h_.assets()->UploadAndIndex(ctx.get(), &again);
  ASSERT_TRUE(writer->Write(header));
  grpc::Status s = writer->Finish();  // no chunk sent
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(again.id(), p->resp.id());
  EXPECT_EQ(again.asset_id(), p->resp.asset_id());
  EXPECT_EQ(h_.api().count("CreateMultipartUpload"), 1);
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 1);

  // The request_id covers the index part too.
  gw::UploadAndIndexRequest other = header;
  other.mutable_header()->set_enable_video_stream(true);
  auto q = Start(other, file);
  q->Join();
  EXPECT_EQ(q->status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(q->status);
  EXPECT_EQ(BadFieldsOf(q->status), std::vector<std::string>{"request_id"});
  EXPECT_EQ(h_.api().count("CreateMultipartUpload"), 1);
}

// A gateway that died while waiting for the asset left the upload recorded:
// the retry indexes that asset, uploading nothing.
TEST_F(UploadAndIndexTest, RetryAfterTheWaitEndedIndexesTheUploadedAsset) {
  const std::string file = Bytes(1500, 16);
  gw::UploadAndIndexRequest header = IndexHeader(WithId(Header(1500), "uai-wait"));
  {
    auto p = Start(header, file);
    ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
    p->ctx->TryCancel();
    p->Join();
    EXPECT_EQ(p->status.error_code(), grpc::StatusCode::CANCELLED) << Describe(p->status);
  }
  const std::string asset_id = UploadedAssetId();
  SetAssetStatus(asset_id, gw::ASSET_STATUS_READY, "ready");
  auto p = Start(header, file);
  TickUntilDone(p.get());
  ASSERT_TRUE(p->status.ok()) << Describe(p->status);
  EXPECT_EQ(p->resp.asset_id(), asset_id);
  EXPECT_EQ(h_.api().count("UploadAssetDirect"), 1);
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 1);
}

// A gateway that died after upstream took the upload but before recording
// it: the retry adopts the asset it made (FindUnansweredAsset) and indexes
// it, uploading nothing.
TEST_F(UploadAndIndexTest, RetryAfterACrashMidUploadAdoptsTheAssetAndIndexesIt) {
  gw::UploadAndIndexRequest header = IndexHeader(WithId(Header(1500, "crashed.mp4"), "uai-crash"));
  gw::UploadAndIndexHeader covered = header.header();
  covered.mutable_upload()->clear_request_id();
  const absl::Time t0 = h_.clock().Now();
  auto claim = h_.store().Claim(CreateScope("media", "UploadAndIndex"), "uai-crash", RequestFingerprint(covered),
                                RequestStore::Attempt{"", "crashed.mp4", t0, t0 + absl::Seconds(3)});
  ASSERT_TRUE(claim.ok() && claim->outcome == RequestStore::Outcome::kNew);
  gw::Asset made;
  made.set_id("aaaaaaaaaaaaaaaaaaaaaa02");
  made.set_filename("crashed.mp4");
  made.set_status(gw::ASSET_STATUS_READY);
  made.set_status_text("ready");
  made.mutable_create_time()->set_seconds(absl::ToUnixSeconds(t0 + absl::Seconds(1)));
  h_.api().PutAsset(made);
  h_.clock().Advance(absl::Seconds(6));  // past the attempt's deadline and the store's margin

  auto p = Start(header, Bytes(1500, 17));
  TickUntilDone(p.get());
  ASSERT_TRUE(p->status.ok()) << Describe(p->status);
  EXPECT_EQ(p->resp.asset_id(), made.id());
  EXPECT_EQ(h_.api().count("UploadAssetDirect"), 0) << "adopted, not uploaded again";
  EXPECT_EQ(h_.api().count("CreateIndexedAsset"), 1);
  EXPECT_EQ(*h_.store().Owner(made.id()), "media");
}

TEST_F(UploadAndIndexTest, BadIndexAndForbiddenIndexAreRefusedBeforeAnyUpstreamCall) {
  struct Case {
    std::string name;
    gw::UploadAndIndexRequest header;
    std::string token;
    grpc::StatusCode code;
  };
  gw::UploadAndIndexRequest no_upload;
  no_upload.mutable_header()->set_index_id(kIndexA);
  gw::UploadAndIndexRequest nested = IndexHeader(Header(1500));
  (*(*nested.mutable_header()->mutable_index_user_metadata()->mutable_fields())["x"]
        .mutable_struct_value()
        ->mutable_fields())["y"]
      .set_number_value(1);
  std::vector<Case> cases = {
      {"no index_id", IndexHeader(Header(1500), ""), kMediaToken, grpc::StatusCode::INVALID_ARGUMENT},
      {"bad index_id", IndexHeader(Header(1500), "not-an-id"), kMediaToken, grpc::StatusCode::INVALID_ARGUMENT},
      {"forbidden index", IndexHeader(Header(1500), kIndexB), kIndexerToken, grpc::StatusCode::PERMISSION_DENIED},
      {"no upload header", no_upload, kMediaToken, grpc::StatusCode::INVALID_ARGUMENT},
      {"nested index metadata", nested, kMediaToken, grpc::StatusCode::INVALID_ARGUMENT},
      {"bad upload header", IndexHeader(Header(0)), kMediaToken, grpc::StatusCode::INVALID_ARGUMENT},
  };
  for (const Case& c : cases) {
    auto p = Start(c.header, Bytes(1500, 7), c.token);
    p->Join();
    EXPECT_EQ(p->status.error_code(), c.code) << c.name << ": " << Describe(p->status);
    EXPECT_FALSE(p->status.error_message().empty()) << c.name;
    EXPECT_TRUE(h_.api().calls().empty()) << c.name << ": " << h_.api().calls()[0].method;
  }
  // The allowed index goes through for the same client.
  auto p = Start(IndexHeader(Header(1500), kIndexA), Bytes(1500, 8), kIndexerToken);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1));
  SetAssetStatus(UploadedAssetId(), gw::ASSET_STATUS_READY, "ready");
  TickUntilDone(p.get());
  EXPECT_TRUE(p->status.ok()) << Describe(p->status);
}

// ---- The upload memory budget (--upload_memory_mib) ---------------------------

// Waits (bounded) until no upload holds any of the budget: a chunk PUT
// under way when an upload ended holds its chunk until it answers.
bool BudgetDrains(Harness& h) {
  for (int i = 0; i < 500 && h.upload_budget().reserved() != 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  return h.upload_budget().reserved() == 0;
}

void ExpectUploadCapacity(const grpc::Status& s) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(s);
  EXPECT_EQ(Reason(s), "UPLOAD_CAPACITY") << Describe(s);
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  EXPECT_GE(*RetryDelayOf(s), absl::Seconds(1));
}

TEST_F(AssetUploadTest, MultipartUploadOverTheBudgetIsRefusedBeforeUpstreamAndRunsOnceTheFirstEnds) {
  constexpr int64_t kCap = int64_t{8} << 20;
  h_.deps().asset_upload.max_buffer_bytes = kCap;
  // One multipart upload's cap fits, two do not (nor one's working set and
  // another's cap).
  h_.SetUploadBudget(kCap + (kCap / 4));
  const std::string a = Bytes(4500, 31), b = Bytes(4500, 32);

  h_.api().hold(true);
  gw::Asset first;
  grpc::Status first_status;
  std::thread upload([&] { first_status = Upload(a, &first); });
  ASSERT_TRUE(h_.api().AwaitHeld(1));  // its session, not opened yet
  EXPECT_EQ(h_.upload_budget().reserved(), kCap) << "the cap, before the chunk size is known";

  gw::Asset second;
  std::vector<gw::UploadAssetRequest> m = {WithId(Header(4500), "budget-second")};
  for (auto& c : Pieces(b, 700)) m.push_back(std::move(c));
  grpc::Status s = Send(m, &second);
  ExpectUploadCapacity(s);
  EXPECT_EQ(h_.api().count("CreateMultipartUpload"), 1) << "the refused upload reached upstream";
  // UploadAndIndex's upload is refused alike, before its index is touched.
  {
    auto ctx = Harness::Ctx(kMediaToken);
    gw::IndexedAsset ia;
    auto writer = h_.assets()->UploadAndIndex(ctx.get(), &ia);
    gw::UploadAndIndexRequest header;
    *header.mutable_header()->mutable_upload() = Header(4500).header();
    header.mutable_header()->set_index_id(kIndexA);
    writer->Write(header);
    writer->WritesDone();
    ExpectUploadCapacity(writer->Finish());
  }
  EXPECT_EQ(h_.api().count("CreateMultipartUpload"), 1);
  EXPECT_EQ(h_.upload_budget().refusals(), 2);

  // Once open, the first keeps only its working set; another upload's cap
  // still does not fit beside it.
  ASSERT_TRUE(h_.api().CompleteNext());
  const int64_t working_set = WorkingSetBytes(h_.deps().asset_upload, kChunk, 2);
  EXPECT_LT(working_set, kCap);
  for (int i = 0; i < 500 && h_.upload_budget().reserved() != working_set; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(h_.upload_budget().reserved(), working_set);
  ExpectUploadCapacity(Send(m, &second));

  h_.api().hold(false);
  for (int i = 0; i < 2500 && (h_.api().held() > 0 || h_.api().count("GetAsset") == 0); ++i) {
    h_.api().CompleteAll();
    absl::SleepFor(absl::Milliseconds(2));
  }
  upload.join();
  ASSERT_TRUE(first_status.ok()) << Describe(first_status);
  EXPECT_EQ(h_.upload_budget().reserved(), 0) << "released before the answer";

  // Nothing was claimed for the refused one: the retry uploads.
  s = Send(m, &second);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().count("CreateMultipartUpload"), 2);
  EXPECT_EQ(h_.api().assembled(UploadIdOf(second.id())), b);
  EXPECT_TRUE(BudgetDrains(h_));
}

TEST_F(AssetUploadTest, DirectUploadOverTheBudgetIsRefusedBeforeUpstream) {
  h_.SetUploadBudget(2000);  // one 1500-byte direct upload's pipe
  const std::string a = Bytes(1500, 33);
  auto ctx = Harness::Ctx(kMediaToken);
  gw::Asset first;
  auto writer = h_.assets()->UploadAsset(ctx.get(), &first);
  ASSERT_TRUE(writer->Write(Header(1500)));
  ASSERT_TRUE(writer->Write(Chunk(a.substr(0, 700))));
  for (int i = 0; i < 500 && h_.api().count("UploadAssetDirect") == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(h_.api().count("UploadAssetDirect"), 1);
  EXPECT_EQ(h_.upload_budget().reserved(), 1500);
  gw::Asset second;
  ExpectUploadCapacity(Send({Header(1500), Chunk(a)}, &second));
  EXPECT_EQ(h_.api().count("UploadAssetDirect"), 1);
  ASSERT_TRUE(writer->Write(Chunk(a.substr(700))));
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(h_.upload_budget().reserved(), 0);
  ASSERT_TRUE(Send({Header(1500), Chunk(a)}, &second).ok());
  EXPECT_TRUE(BudgetDrains(h_));
}

TEST_F(AssetUploadTest, UploadMemoryIsGivenBackAfterSuccessFailureCancelAndARepeat) {
  Ticker ticker(&h_.clock());
  for (int64_t size : {int64_t{1500}, int64_t{4500}}) {  // direct, then multipart
    SCOPED_TRACE(size);
    const bool direct = size == 1500;
    const std::string file = Bytes(size, 34);
    gw::Asset asset;
    ASSERT_TRUE(Upload(file, &asset).ok());
    EXPECT_EQ(h_.upload_budget().reserved(), 0) << "success";
    // Upstream refuses.
    h_.api().FailNext(direct ? "UploadAssetDirect" : "PutChunk", absl::InvalidArgumentError("refused"));
    EXPECT_FALSE(Upload(file, &asset).ok());
    EXPECT_TRUE(BudgetDrains(h_)) << "failure: " << h_.upload_budget().reserved();
    // The stream ends early.
    EXPECT_EQ(Send({Header(size), Chunk(file.substr(0, 1200))}, &asset).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(BudgetDrains(h_)) << "cut short: " << h_.upload_budget().reserved();
    // The client cancels.
    {
      auto ctx = Harness::Ctx(kMediaToken);
      auto writer = h_.assets()->UploadAsset(ctx.get(), &asset);
      ASSERT_TRUE(writer->Write(Header(size)));
      ASSERT_TRUE(writer->Write(Chunk(file.substr(0, 700))));
      ctx->TryCancel();
      EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
    }
    EXPECT_TRUE(BudgetDrains(h_)) << "cancel: " << h_.upload_budget().reserved();
    // A repeat answered from its request_id, without reading the stream.
    const std::string rid = absl::StrCat("budget-repeat-", size);
    std::vector<gw::UploadAssetRequest> m = {WithId(Header(size), rid)};
    for (auto& c : Pieces(file, 700)) m.push_back(std::move(c));
    gw::Asset first, again;
    ASSERT_TRUE(Send(m, &first).ok());
    ASSERT_TRUE(Send({m[0]}, &again).ok());
    EXPECT_EQ(again.id(), first.id());
    EXPECT_TRUE(BudgetDrains(h_)) << "repeat: " << h_.upload_budget().reserved();
  }
}

TEST_F(UploadAndIndexTest, TheWaitAfterTheUploadHoldsNoUploadMemory) {
  const std::string file = Bytes(4500, 35);  // multipart
  auto p = Start(IndexHeader(Header(4500)), file);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.asset_watches(), 1)) << "waits on the asset's shared watch";
  EXPECT_EQ(h_.upload_budget().reserved(), 0) << "the upload is done; its chunks are gone";
  const std::string asset_id = UploadedAssetId();
  ASSERT_FALSE(asset_id.empty());
  SetAssetStatus(asset_id, gw::ASSET_STATUS_READY, "ready");
  TickUntilDone(p.get());
  ASSERT_TRUE(p->status.ok()) << Describe(p->status);
  EXPECT_EQ(h_.upload_budget().reserved(), 0);
}

}  // namespace
}  // namespace tlgw::testing
