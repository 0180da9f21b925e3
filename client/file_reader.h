// Reads a regular file in fixed-size chunks for UploadVideoFile, so an upload
// never holds more than one chunk of the file in memory, however large the
// file is.
//
// The upload header promises an exact byte count up front, so the reader
// takes the size when the file is opened and delivers exactly that many
// bytes: a file that grows meanwhile is cut at the promised size, and one
// that shrinks is an error (the server would otherwise wait for bytes that
// never come). Not thread-safe; one reader per upload.
#ifndef TL_GATEWAY_CLIENT_FILE_READER_H_
#define TL_GATEWAY_CLIENT_FILE_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tlclient {

// 1 MiB: well under gRPC's default 4 MiB receive limit with room for the
// message framing, and large enough that per-message overhead is noise.
inline constexpr size_t kUploadChunkBytes = 1 << 20;

class ChunkedFileReader {
 public:
  // Opens `path`, which must be a regular file (a pipe or device has no
  // size to promise). NOT_FOUND, PERMISSION_DENIED or FAILED_PRECONDITION
  // name the path.
  static absl::StatusOr<std::unique_ptr<ChunkedFileReader>> Open(
      const std::string& path, size_t chunk_bytes = kUploadChunkBytes);

  ~ChunkedFileReader();
  ChunkedFileReader(const ChunkedFileReader&) = delete;
  ChunkedFileReader& operator=(const ChunkedFileReader&) = delete;

  // The size the file had when opened: exactly what Next() delivers.
  int64_t size() const { return size_; }
  // Bytes delivered so far.
  int64_t offset() const { return offset_; }
  bool done() const { return offset_ >= size_; }

  // Replaces `*chunk` with the next min(chunk_bytes, size - offset) bytes;
  // leaves it empty once done(). The caller may pass the `bytes` field of
  // the message it is about to send, so the bytes are read straight into it.
  // DATA_LOSS if the file ends before the size it had when opened.
  absl::Status Next(std::string* chunk);
  // Continues from byte `offset` (at most size()): a resumed upload sends
  // only the rest of the file. FAILED_PRECONDITION if the file cannot seek.
  absl::Status SeekTo(int64_t offset);

 private:
  ChunkedFileReader(int fd, std::string path, int64_t size, size_t chunk_bytes)
      : fd_(fd), path_(std::move(path)), size_(size), chunk_bytes_(chunk_bytes) {}

  int fd_;
  std::string path_;
  int64_t size_;
  size_t chunk_bytes_;
  int64_t offset_ = 0;
};

// The last path component, e.g. "clip.mp4" for "/videos/clip.mp4": the name
// upstream reports for an uploaded file.
std::string BaseName(const std::string& path);

}  // namespace tlclient

#endif  // TL_GATEWAY_CLIENT_FILE_READER_H_
