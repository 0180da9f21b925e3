#include "server/services/upload_pipe.h"

#include <gtest/gtest.h>

#include <string>

namespace tlgw {
namespace {

TEST(UploadPipe, ReadsWhatWasPushedInOrderAcrossChunkBoundaries) {
  UploadPipe pipe(100, nullptr);
  pipe.Attach([] {});
  pipe.Push("hello ");
  pipe.Push("world");
  char buf[4];
  std::string out;
  while (true) {
    int64_t n = pipe.Read(buf, sizeof(buf));
    if (n == BodySource::kPause) break;
    ASSERT_GT(n, 0);
    out.append(buf, n);
  }
  EXPECT_EQ(out, "hello world");
  EXPECT_EQ(pipe.buffered(), 0u);
}

TEST(UploadPipe, PausedReaderIsResumedByAPush) {
  UploadPipe pipe(100, nullptr);
  int resumed = 0;
  pipe.Attach([&] { ++resumed; });
  char buf[8];
  EXPECT_EQ(pipe.Read(buf, sizeof(buf)), BodySource::kPause);
  pipe.Push("x");
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(pipe.Read(buf, sizeof(buf)), 1);
  // No resume when the reader was not paused.
  pipe.Push("y");
  EXPECT_EQ(resumed, 1);
}

TEST(UploadPipe, FullPipeReportsNoRoomUntilTheReaderDrainsIt) {
  int room_calls = 0;
  UploadPipe pipe(10, [&] { ++room_calls; });
  pipe.Attach([] {});
  EXPECT_TRUE(pipe.Push(std::string(6, 'a')));
  EXPECT_FALSE(pipe.Push(std::string(6, 'b')));  // 12 >= 10
  EXPECT_FALSE(pipe.HasRoom());
  char buf[1];
  ASSERT_EQ(pipe.Read(buf, 1), 1);  // 11 left: still full
  EXPECT_EQ(room_calls, 0);
  char big[4];
  ASSERT_EQ(pipe.Read(big, 4), 4);  // 7 left: room again
  EXPECT_EQ(room_calls, 1);
  EXPECT_TRUE(pipe.HasRoom());
  EXPECT_EQ(pipe.peak_buffered(), 12u);
}

TEST(UploadPipe, AbortFailsTheReaderAndWakesIt) {
  UploadPipe pipe(10, nullptr);
  int resumed = 0;
  pipe.Attach([&] { ++resumed; });
  char buf[4];
  EXPECT_EQ(pipe.Read(buf, 4), BodySource::kPause);
  pipe.Abort();
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(pipe.Read(buf, 4), BodySource::kAbort);
  EXPECT_FALSE(pipe.Push("late"));
}

// The transport ends an aborted source's request at once (it may not be
// reading), and the idle timer tells a stalled upstream by the read count.
TEST(UploadPipe, ReportsAbortAndCountsTheBytesRead) {
  UploadPipe pipe(100, nullptr);
  pipe.Attach([] {});
  EXPECT_FALSE(pipe.aborted());
  pipe.Push("abcdef");
  char buf[4];
  ASSERT_EQ(pipe.Read(buf, 4), 4);
  EXPECT_EQ(pipe.bytes_read(), 4);
  ASSERT_EQ(pipe.Read(buf, 4), 2);
  EXPECT_EQ(pipe.bytes_read(), 6);
  EXPECT_EQ(pipe.Read(buf, 4), BodySource::kPause);
  EXPECT_EQ(pipe.bytes_read(), 6);
  pipe.Abort();
  EXPECT_TRUE(pipe.aborted());
}

}  // namespace
}  // namespace tlgw
