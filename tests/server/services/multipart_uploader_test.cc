// MultipartUploader on its own against the fake upstream with every call
// held: how many chunks fly, when pushing must wait, and what it holds.
#include "server/services/multipart_uploader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/fake_clock.h"
#include "tests/support/fake_twelvelabs_api.h"

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
constexpr int64_t kChunk = 1000;

struct Outcome {
  int rooms = 0;
  std::string upload_id;
  std::optional<absl::StatusOr<gw::Asset>> done;
};

std::shared_ptr<MultipartUploader> Make(FakeTwelveLabsApi* api, FakeClock* clock, MultipartLimits limits,
                                        Outcome* out) {
  MultipartUploader::Hooks hooks;
  hooks.on_room = [out] { ++out->rooms; };
  hooks.on_open = [out](const std::string& id, const std::string&, int64_t) { out->upload_id = id; };
  hooks.on_done = [out](absl::StatusOr<gw::Asset> a) { out->done = std::move(a); };
  CallOptions opts;
  opts.api_key = "k";
  return std::make_shared<MultipartUploader>(api, clock, opts, limits, std::move(hooks));
}

gw::UploadAssetHeader Header(int64_t size) {
  gw::UploadAssetHeader h;
  h.set_filename("big.mp4");
  h.set_type(gw::ASSET_TYPE_VIDEO);
  h.set_size_bytes(size);
  return h;
}

TEST(MultipartUploaderTest, ChunksInFlightAreBoundedAndPushingWaitsForRoom) {
  FakeTwelveLabsApi api;
  api.set_multipart(kChunk, 2);
  api.hold(true);
  FakeClock clock;
  MultipartLimits limits;
  limits.chunks_in_flight = 3;
  limits.max_buffer_bytes = 10 * kChunk;
  limits.report_batch = 4;
  Outcome out;
  auto up = Make(&api, &clock, limits, &out);
  const int chunks = 20;
  std::string file;
  for (int i = 0; i < chunks; ++i) file += std::string(kChunk, static_cast<char>('a' + i));
  up->StartNew(Header(static_cast<int64_t>(file.size())));
  EXPECT_FALSE(up->HasRoom()) << "nothing is read before the session is known";
  ASSERT_TRUE(api.CompleteNext());  // CreateMultipartUpload
  EXPECT_TRUE(up->HasRoom());
  EXPECT_EQ(up->in_flight_limit(), 3);

  size_t pushed = 0;
  int64_t peak_active = 0;
  while (pushed < file.size()) {
    // Push while there is room, as the gRPC side reads while it may.
    while (up->HasRoom() && pushed < file.size()) {
      up->Push(file.substr(pushed, kChunk));
      pushed += kChunk;
    }
    EXPECT_LE(up->buffered(), 5 * kChunk) << "3 in flight, 1 waiting, 1 filling";
    peak_active = std::max<int64_t>(peak_active, static_cast<int64_t>(api.held()));
    if (pushed < file.size()) {
      EXPECT_FALSE(up->HasRoom());
      ASSERT_TRUE(api.CompleteNext());  // a PUT, a URL fetch or a report
    }
  }
  up->EndOfInput();
  while (!out.done.has_value()) ASSERT_TRUE(api.CompleteNext());
  ASSERT_TRUE(out.done->ok()) << out.done->status();
  EXPECT_EQ(api.assembled(out.upload_id), file);
  EXPECT_LE(up->peak_buffered(), 5 * kChunk);
  EXPECT_LE(peak_active, 3 + 1) << "at most 3 PUTs (and a URL fetch or report) at once";
  EXPECT_GT(out.rooms, 1) << "room came back as PUTs finished";
  EXPECT_EQ(up->buffered(), 0) << "every chunk freed once upstream had it";
  EXPECT_GE(api.count("ReportChunks"), chunks / 4);
}

TEST(MultipartUploaderTest, FewerChunksFlyWhenTheyAreLargeAndTooLargeIsRefused) {
  FakeTwelveLabsApi api;
  api.set_multipart(kChunk, 2);
  FakeClock clock;
  MultipartLimits limits;
  limits.chunks_in_flight = 8;
  limits.max_buffer_bytes = 4 * kChunk;
  Outcome out;
  auto up = Make(&api, &clock, limits, &out);
  up->StartNew(Header(10 * kChunk));
  EXPECT_EQ(up->in_flight_limit(), 2) << "4 chunks of memory: 2 in flight, 1 waiting, 1 filling";

  limits.max_buffer_bytes = 2 * kChunk;
  Outcome refused;
  auto small = Make(&api, &clock, limits, &refused);
  small->StartNew(Header(10 * kChunk));
  ASSERT_TRUE(refused.done.has_value());
  EXPECT_EQ(refused.done->status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(refused.upload_id.empty()) << "the session was still reported, to be owned";
}

// The upload budget's reservation: the cap until the session is open, the
// working set after, and back once an aborted upload's last PUT under way
// answered (its chunk is held till then); all of it once one succeeds.
TEST(MultipartUploaderTest, ReservationShrinksWhenOpenAndIsReleasedOnceNoChunkIsHeld) {
  FakeTwelveLabsApi api;
  api.set_multipart(kChunk, 10);
  api.hold(true);
  FakeClock clock;
  MultipartLimits limits;
  limits.chunks_in_flight = 2;
  limits.max_buffer_bytes = 40 * kChunk;
  limits.max_push_bytes = kChunk;
  UploadBudget budget(100 * kChunk);
  const int64_t working_set = 2 * kChunk + kChunk / 4 + kChunk;
  EXPECT_EQ(WorkingSetBytes(limits, kChunk, 2), working_set);
  EXPECT_EQ(WorkingSetBytes(limits, 13 * kChunk, 3), limits.max_buffer_bytes) << "never over the cap";

  for (bool abort : {true, false}) {
    SCOPED_TRACE(abort ? "aborted" : "completed");
    Outcome out;
    MultipartUploader::Hooks hooks;
    hooks.on_open = [&out](const std::string& id, const std::string&, int64_t) { out.upload_id = id; };
    hooks.on_done = [&out](absl::StatusOr<gw::Asset> a) { out.done = std::move(a); };
    auto reserved = budget.Reserve(limits.max_buffer_bytes);
    ASSERT_TRUE(reserved.ok());
    auto up = std::make_shared<MultipartUploader>(&api, &clock, CallOptions(), limits, std::move(hooks),
                                                  *std::move(reserved));
    up->StartNew(Header(4 * kChunk));
    EXPECT_EQ(budget.reserved(), limits.max_buffer_bytes);
    ASSERT_TRUE(api.CompleteNext());  // CreateMultipartUpload
    EXPECT_EQ(budget.reserved(), working_set);
    up->Push(std::string(2 * kChunk, 'x'));  // two PUTs, held
    ASSERT_TRUE(api.AwaitHeld(2));
    if (abort) {
      up->Abort(absl::CancelledError("the client cancelled"));
      ASSERT_TRUE(out.done.has_value());
      EXPECT_EQ(budget.reserved(), working_set) << "the PUTs under way still hold their chunks";
      ASSERT_TRUE(api.CompleteNext());
      EXPECT_EQ(budget.reserved(), working_set);
      ASSERT_TRUE(api.CompleteNext());
      EXPECT_EQ(budget.reserved(), 0) << "the last PUT answered";
      api.CompleteAll();  // the wind-down's report
    } else {
      up->Push(std::string(2 * kChunk, 'y'));
      up->EndOfInput();
      while (!out.done.has_value()) ASSERT_TRUE(api.CompleteNext());
      ASSERT_TRUE(out.done->ok()) << out.done->status();
      EXPECT_EQ(budget.reserved(), 0);
    }
  }
  EXPECT_EQ(budget.reserved(), 0);
}

TEST(MultipartUploaderTest, AbortReportsWhatArrivedAndFreesTheRest) {
  FakeTwelveLabsApi api;
  api.set_multipart(kChunk, 10);
  FakeClock clock;
  MultipartLimits limits;
  limits.report_batch = 100;  // nothing is reported before the abort
  Outcome out;
  auto up = Make(&api, &clock, limits, &out);
  up->StartNew(Header(10 * kChunk));
  up->Push(std::string(3 * kChunk + 200, 'x'));
  EXPECT_EQ(api.count("ReportChunks"), 0);
  up->Abort(absl::CancelledError("client went away"));
  ASSERT_TRUE(out.done.has_value());
  EXPECT_EQ(out.done->status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(api.count("ReportChunks"), 1) << "the 3 PUT chunks, so a continuation skips them";
  auto s = api.session(out.upload_id);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->reported.size(), 3u);
  EXPECT_EQ(up->buffered(), 0);
}

// A chunk goes out as the messages it was pushed in, never joined: what
// upstream stores is exactly the file, a retried PUT sends the same bytes,
// and a message cut at a chunk boundary is counted for the memory it keeps.
TEST(MultipartUploaderTest, ChunksGoOutAsThePushedPiecesAndRetriesResendTheSameBytes) {
  FakeTwelveLabsApi api;
  const int64_t chunk = 4096;
  api.set_multipart(chunk, 10);
  FakeClock clock;
  MultipartLimits limits;
  limits.max_buffer_bytes = 10 * chunk;
  Outcome out;
  auto up = Make(&api, &clock, limits, &out);
  std::string file;
  for (int i = 0; i < 5 * chunk + 123; ++i) file += static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  up->StartNew(Header(static_cast<int64_t>(file.size())));
  api.FailNext("PutChunk", absl::UnavailableError("the store failed"));
  api.FailNext("PutChunk", absl::UnavailableError("the store failed"));
  // Messages of 1 KiB, then sizes that cut across chunk boundaries.
  const std::vector<size_t> sizes = {1024, 1024, 1024, 1024, 1024, 3000, 700, 5000, 2600, 1500};
  size_t at = 0;
  for (size_t n : sizes) {
    up->Push(file.substr(at, n));
    at += n;
  }
  up->Push(file.substr(at));
  up->EndOfInput();
  for (int i = 0; i < 20 && !out.done.has_value(); ++i) clock.Advance(absl::Seconds(10));  // the backoffs
  ASSERT_TRUE(out.done.has_value());
  ASSERT_TRUE(out.done->ok()) << out.done->status();
  EXPECT_EQ(api.assembled(out.upload_id), file) << "exact bytes, the retried chunks included";
  EXPECT_EQ(api.count("PutChunk"), 6 + 2);
  EXPECT_GE(api.most_put_pieces(), 4u) << "the first chunk is its four 1 KiB messages, not a joined copy";
  EXPECT_EQ(up->buffered(), 0);
}

TEST(MultipartUploaderTest, AMessageCutAtAChunkBoundaryIsCountedForTheMemoryItKeeps) {
  FakeTwelveLabsApi api;
  api.set_multipart(kChunk, 10);
  api.hold(true);
  FakeClock clock;
  MultipartLimits limits;
  Outcome out;
  auto up = Make(&api, &clock, limits, &out);
  up->StartNew(Header(3 * kChunk));
  ASSERT_TRUE(api.CompleteNext());  // CreateMultipartUpload
  up->Push(std::string(400, 'a'));
  up->Push(std::string(400, 'b'));
  EXPECT_EQ(up->buffered(), 800);
  // 200 bytes finish chunk 1, 600 start chunk 2: the smaller head is
  // copied, the tail keeps the message's 800-byte buffer.
  up->Push(std::string(800, 'c'));
  EXPECT_EQ(up->buffered(), 400 + 400 + 200 + 800);
  // 400 bytes finish chunk 2, 100 start chunk 3: the smaller tail is
  // copied, the head keeps the message's 500-byte buffer.
  up->Push(std::string(500, 'd'));
  EXPECT_EQ(up->buffered(), 1000 + (800 + 500) + 100);
  up->Push(std::string(900, 'e'));
  EXPECT_EQ(up->buffered(), 1000 + 1300 + 1000);
  up->EndOfInput();
  while (!out.done.has_value()) ASSERT_TRUE(api.CompleteNext());
  ASSERT_TRUE(out.done->ok()) << out.done->status();
  EXPECT_EQ(api.assembled(out.upload_id), std::string(400, 'a') + std::string(400, 'b') + std::string(800, 'c') +
                                              std::string(500, 'd') + std::string(900, 'e'));
  EXPECT_EQ(up->peak_buffered(), 3300);
  EXPECT_EQ(up->buffered(), 0) << "every byte counted in is counted out";
}

TEST(MultipartUploaderTest, WhileEverySlotIsBusyTheNextChunkIsReadAQuarterOfTheWay) {
  FakeTwelveLabsApi api;
  api.set_multipart(kChunk, 10);
  api.hold(true);
  FakeClock clock;
  MultipartLimits limits;
  limits.chunks_in_flight = 3;
  Outcome out;
  auto up = Make(&api, &clock, limits, &out);
  up->StartNew(Header(10 * kChunk));
  ASSERT_TRUE(api.CompleteNext());  // CreateMultipartUpload
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(up->HasRoom());
    up->Push(std::string(kChunk, 'a'));
  }
  EXPECT_EQ(api.held(), 3u) << "three PUTs under way";
  int64_t read_ahead = 0;
  while (up->HasRoom() && read_ahead < kChunk) {
    up->Push(std::string(100, 'b'));
    read_ahead += 100;
  }
  EXPECT_EQ(read_ahead, kChunk / 4 + 50) << "reading stops once a quarter of the next chunk is in";
  EXPECT_EQ(up->buffered(), 3 * kChunk + read_ahead);
  ASSERT_TRUE(api.CompleteNext());  // a PUT ends: the slot frees, reading goes on
  EXPECT_TRUE(up->HasRoom());
  up->Abort(absl::CancelledError("done"));
  while (api.CompleteNext(absl::ZeroDuration())) {
  }
}

}  // namespace
}  // namespace tlgw
