#include "client/file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tlclient {

namespace {

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string message = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChunkedFileReader>> ChunkedFileReader::Open(const std::string& path,
                                                                           size_t chunk_bytes) {
  if (chunk_bytes == 0) return absl::InvalidArgumentError("chunk size must be positive");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": not a regular file (an upload needs its size up front)"));
  }
  return std::unique_ptr<ChunkedFileReader>(
      new ChunkedFileReader(fd, path, static_cast<int64_t>(st.st_size), chunk_bytes));
}

ChunkedFileReader::~ChunkedFileReader() { ::close(fd_); }

absl::Status ChunkedFileReader::Next(std::string* chunk) {
  size_t want =
      static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(chunk_bytes_), size_ - offset_));
  chunk->resize(want);
  size_t got = 0;
  // read() may return fewer bytes than asked (signals, pipes, NFS), so loop
  // until the chunk is full or the file ends.
  while (got < want) {
    ssize_t n = ::read(fd_, chunk->data() + got, want - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      chunk->clear();
      return ErrnoStatus(err, path_);
    }
    if (n == 0) {
      chunk->clear();
      return absl::DataLossError(absl::StrCat(path_, ": file shrank while being read (",
                                              offset_ + static_cast<int64_t>(got), " of ", size_,
                                              " bytes)"));
    }
    got += static_cast<size_t>(n);
  }
  offset_ += static_cast<int64_t>(got);
  return absl::OkStatus();
}

std::string BaseName(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  size_t slash = trimmed.rfind('/');
  return slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
}

absl::Status ChunkedFileReader::SeekTo(int64_t offset) {
  if (offset < 0 || offset > size_) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": offset ", offset, " is outside the file's ", size_, " bytes"));
  }
  if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": cannot seek to byte ", offset));
  }
  offset_ = offset;
  return absl::OkStatus();
}

}  // namespace tlclient
