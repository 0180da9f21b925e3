// Chunked reading for uploads: exact chunk sizes, exactly the size promised
// when the file was opened, and clear errors for what cannot be uploaded.
#include "client/file_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"

namespace tlclient {
namespace {

std::string TempFile(const std::string& name, size_t size) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (size_t i = 0; i < size; ++i) out.put(static_cast<char>(i * 7 % 251));
  return path;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(ChunkedFileReader, DeliversTheFileInFullChunksThenTheRest) {
  const size_t size = 2 * kUploadChunkBytes + kUploadChunkBytes / 2;
  std::string path = TempFile("two-and-a-half.bin", size);
  auto reader = ChunkedFileReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->size(), static_cast<int64_t>(size));
  std::string all, chunk;
  std::vector<size_t> sizes;
  while (!(*reader)->done()) {
    ASSERT_TRUE((*reader)->Next(&chunk).ok());
    sizes.push_back(chunk.size());
    all += chunk;
    EXPECT_EQ((*reader)->offset(), static_cast<int64_t>(all.size()));
  }
  EXPECT_EQ(sizes,
            (std::vector<size_t>{kUploadChunkBytes, kUploadChunkBytes, kUploadChunkBytes / 2}));
  EXPECT_EQ(all, ReadAll(path));
  ASSERT_TRUE((*reader)->Next(&chunk).ok());
  EXPECT_TRUE(chunk.empty());  // nothing after done()
}

TEST(ChunkedFileReader, ExactMultipleAndEmptyFiles) {
  auto exact = ChunkedFileReader::Open(TempFile("exact.bin", 3 * 1000), 1000);
  ASSERT_TRUE(exact.ok());
  std::string chunk;
  int chunks = 0;
  while (!(*exact)->done()) {
    ASSERT_TRUE((*exact)->Next(&chunk).ok());
    EXPECT_EQ(chunk.size(), 1000u);
    ++chunks;
  }
  EXPECT_EQ(chunks, 3);

  auto empty = ChunkedFileReader::Open(TempFile("empty.bin", 0));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ((*empty)->size(), 0);
  EXPECT_TRUE((*empty)->done());
}

TEST(ChunkedFileReader, ReusesTheCallersBuffer) {
  auto reader = ChunkedFileReader::Open(TempFile("small.bin", 10), 4);
  ASSERT_TRUE(reader.ok());
  std::string chunk = "previous contents that are longer";
  ASSERT_TRUE((*reader)->Next(&chunk).ok());
  EXPECT_EQ(chunk.size(), 4u);  // replaced, not appended
}

TEST(ChunkedFileReader, AFileThatGrowsIsCutAtTheOpenedSize) {
  std::string path = TempFile("grows.bin", 100);
  auto reader = ChunkedFileReader::Open(path, 64);
  ASSERT_TRUE(reader.ok());
  std::ofstream(path, std::ios::binary | std::ios::app) << std::string(50, 'x');
  std::string chunk;
  int64_t total = 0;
  while (!(*reader)->done()) {
    ASSERT_TRUE((*reader)->Next(&chunk).ok());
    total += static_cast<int64_t>(chunk.size());
  }
  EXPECT_EQ(total, 100);
}

TEST(ChunkedFileReader, AFileThatShrinksIsDataLoss) {
  std::string path = TempFile("shrinks.bin", 100);
  auto reader = ChunkedFileReader::Open(path, 64);
  ASSERT_TRUE(reader.ok());
  ASSERT_EQ(truncate(path.c_str(), 80), 0);
  std::string chunk;
  ASSERT_TRUE((*reader)->Next(&chunk).ok());
  absl::Status s = (*reader)->Next(&chunk);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "shrank")) << s;
}

TEST(ChunkedFileReader, ErrorsNameThePath) {
  auto missing = ChunkedFileReader::Open("/nonexistent/clip.mp4");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "/nonexistent/clip.mp4"));

  const char* dir = std::getenv("TEST_TMPDIR");
  auto directory = ChunkedFileReader::Open(dir != nullptr ? dir : "/tmp");
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(directory.status().message(), "not a regular file"));
}

TEST(BaseName, LastPathComponent) {
  EXPECT_EQ(BaseName("/videos/clip.mp4"), "clip.mp4");
  EXPECT_EQ(BaseName("clip.mp4"), "clip.mp4");
  EXPECT_EQ(BaseName("dir/sub/"), "sub");
}

}  // namespace
}  // namespace tlclient
