// A chunk PUT's body as the pieces it arrived in (HttpRequest::cord_body):
// CordReader on its own (exact bytes across pieces, rewinds), and the real
// transport sending one to a raw socket, including the retry libcurl makes
// when a reused connection turns out closed, which re-reads the body from
// its start (CURLOPT_SEEKFUNCTION).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "server/upstream/curl_transport.h"

namespace tlgw {
namespace {

// A file of `n` bytes in pieces of the given sizes (the last takes the rest),
// each large enough that the Cord keeps it as its own piece.
absl::Cord Pieces(const std::string& file, const std::vector<size_t>& sizes) {
  absl::Cord c;
  size_t at = 0;
  for (size_t n : sizes) {
    c.Append(file.substr(at, n));
    at += n;
  }
  if (at < file.size()) c.Append(file.substr(at));
  return c;
}

std::string File(size_t n) {
  std::string f;
  for (size_t i = 0; i < n; ++i) f += static_cast<char>('A' + (i * 31 + i / 1000) % 61);
  return f;
}

TEST(CordReader, ReadsEveryPieceInOrderAndRewinds) {
  const std::string file = File(10000);
  const absl::Cord cord = Pieces(file, {3000, 1000, 2500});
  ASSERT_EQ(std::distance(cord.Chunks().begin(), cord.Chunks().end()), 4) << "the pieces stay apart";
  CordReader reader(&cord);
  // Buffers that end inside pieces and span piece boundaries.
  std::string got;
  char buf[777];
  while (size_t n = reader.Read(buf, sizeof(buf))) got.append(buf, n);
  EXPECT_EQ(got, file);
  EXPECT_EQ(reader.offset(), file.size());
  EXPECT_EQ(reader.Read(buf, sizeof(buf)), 0u) << "the end stays the end";

  ASSERT_TRUE(reader.Seek(0));
  got.clear();
  char big[20000];
  size_t n = reader.Read(big, sizeof(big));
  EXPECT_EQ(std::string(big, n), file) << "a rewind reads it all again";

  ASSERT_TRUE(reader.Seek(3999));  // the last byte of the second piece
  n = reader.Read(big, 2);
  EXPECT_EQ(std::string(big, n), file.substr(3999, 2));
  EXPECT_EQ(reader.offset(), 4001u);
  EXPECT_TRUE(reader.Seek(file.size()));
  EXPECT_EQ(reader.Read(big, 1), 0u);
  EXPECT_FALSE(reader.Seek(file.size() + 1));
  EXPECT_EQ(reader.offset(), file.size()) << "a refused seek moves nothing";
}

// Serves HTTP/1.1 PUTs on loopback. The first connection answers its first
// request (kept alive), then reads the second request whole and closes
// without an answer, as a store's idle-connection reaper may; every later
// connection answers each request. Keeps each request's body.
class FlakyServer {
 public:
  FlakyServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 4);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FlakyServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  std::vector<std::string> bodies() const {
    absl::MutexLock lock(&mu_);
    return bodies_;
  }
  std::vector<std::string> heads() const {
    absl::MutexLock lock(&mu_);
    return heads_;
  }

 private:
  // One request from `c` (its head and Content-Length bytes of body), the
  // bytes past it left in `pending`. False when the connection ended first.
  bool ReadRequest(int c, std::string* pending) {
    char buf[65536];
    while (true) {
      size_t end = pending->find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = absl::AsciiStrToLower(pending->substr(0, end));
        size_t want = 0;
        size_t at = head.find("content-length: ");
        if (at != std::string::npos) {
          (void)absl::SimpleAtoi(head.substr(at + 16, head.find("\r\n", at) - at - 16), &want);
        }
        if (pending->size() >= end + 4 + want) {
          absl::MutexLock lock(&mu_);
          heads_.push_back(head);
          bodies_.push_back(pending->substr(end + 4, want));
          pending->erase(0, end + 4 + want);
          return true;
        }
      }
      ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) return false;
      pending->append(buf, static_cast<size_t>(n));
    }
  }

  void Serve() {
    for (int conn = 0;; ++conn) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string pending;
      for (int req = 0; ReadRequest(c, &pending); ++req) {
        if (conn == 0 && req == 1) break;  // closed without an answer
        const std::string answer = "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\n\r\n";
        (void)!write(c, answer.data(), answer.size());
      }
      close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<std::string> bodies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> heads_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<HttpResponse> Put(CurlTransport* transport, int port, absl::Cord body) {
  HttpRequest req;
  req.method = "PUT";
  req.url = absl::StrCat("http://127.0.0.1:", port, "/bucket/chunk?sig=1");
  req.headers.emplace_back("content-type", "application/octet-stream");
  req.cord_body = std::move(body);
  absl::Notification done;
  absl::StatusOr<HttpResponse> response;
  transport->Send(std::move(req), [&](absl::StatusOr<HttpResponse> r) {
    response = std::move(r);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  return response;
}

TEST(CordBody, PutSendsThePiecesAsOneBodyAndResendsThemWhenAReusedConnectionWasClosed) {
  FlakyServer server;
  auto transport = CurlTransport::Create(CurlTransportOptions{});
  ASSERT_TRUE(transport.ok()) << transport.status();
  const std::string first = File(300000);
  absl::StatusOr<HttpResponse> r = Put(transport->get(), server.port(), Pieces(first, {100000, 150000}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);

  // Sent on the kept-alive connection, which the server closes once it has
  // read the whole request: libcurl retries on a fresh connection, and must
  // send the body again from its first byte.
  const std::string second = File(1 << 20).substr(7);
  r = Put(transport->get(), server.port(), Pieces(second, {1000, 600000, 80000, 5000}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  transport->reset();

  const std::vector<std::string> bodies = server.bodies();
  const std::vector<std::string> heads = server.heads();
  ASSERT_EQ(bodies.size(), 3u) << "the first PUT, the second's lost attempt, its retry";
  EXPECT_TRUE(bodies[0] == first) << "exact bytes";
  EXPECT_TRUE(bodies[1] == second);
  EXPECT_TRUE(bodies[2] == second) << "the retry sent the whole body again, from its start";
  EXPECT_TRUE(absl::StartsWith(heads[2], "put /bucket/chunk?sig=1 http/1.1")) << heads[2];
  EXPECT_NE(heads[2].find(absl::StrCat("content-length: ", second.size())), std::string::npos) << heads[2];
  EXPECT_EQ(heads[2].find("expect:"), std::string::npos) << "no 100-continue round trip";
  EXPECT_EQ(heads[2].find("transfer-encoding"), std::string::npos) << heads[2];
}

}  // namespace
}  // namespace tlgw
