// Tests of HttpServer over real loopback sockets with small limits: the
// parser's edge cases, keep-alive and pipelining, the connection cap, and
// the head/body/idle/write deadlines. Elapsed times are asserted only with
// generous bounds (the point is "closed at all", not "closed on the dot").
#include "server/http/http_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tlgw {
namespace {

// A blocking client socket; every read gives up after 10 s, so a server
// that never answers fails the test instead of hanging it.
class Client {
 public:
  explicit Client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  // Whether the server has sent something (or closed) within `timeout`.
  bool Readable(absl::Duration timeout) {
    pollfd p{fd_, POLLIN, 0};
    return !buf_.empty() || poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) > 0;
  }
  int fd() const { return fd_; }

  bool Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  struct Response {
    int status = 0;
    std::string head;
    std::string body;
    bool closes() const { return absl::StrContains(absl::AsciiStrToLower(head), "connection: close"); }
  };

  // The next response (Content-Length framed), or nullopt on EOF/error.
  std::optional<Response> Read() {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    Response r;
    r.head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (r.head.size() < 12 || !absl::SimpleAtoi(r.head.substr(9, 3), &r.status)) return std::nullopt;
    size_t length = 0;
    const std::string lower = absl::AsciiStrToLower(r.head);
    size_t at = lower.find("content-length: ");
    if (at != std::string::npos) {
      absl::SimpleAtoi(r.head.substr(at + 16, r.head.find("\r\n", at) - at - 16), &length);
    }
    if (absl::StartsWith(r.head, "HTTP/1.1 100")) return Read();
    if (!head_only_) {
      while (buf_.size() < length) {
        if (!Fill()) return std::nullopt;
      }
      r.body = buf_.substr(0, length);
      buf_.erase(0, length);
    }
    return r;
  }
  void set_head_only(bool h) { head_only_ = h; }

  // True once the server has closed the connection (EOF or reset) within
  // `timeout`; whatever arrives before is dropped.
  bool ClosedWithin(absl::Duration timeout) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      char c[4096];
      ssize_t n = recv(fd_, c, sizeof(c), 0);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
    return false;
  }

 private:
  bool Fill() {
    char c[65536];
    ssize_t n = recv(fd_, c, sizeof(c), 0);
    if (n <= 0) return false;
    buf_.append(c, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool head_only_ = false;
  std::string buf_;
};

std::string Get(const std::string& path) { return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: t\r\n\r\n"); }

std::string Post(const std::string& path, const std::string& body) {
  return absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: t\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
}

template <typename Pred>
bool Eventually(Pred pred, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return pred();
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(Limits()); }

  static HttpLimits Limits() {
    HttpLimits l;
    l.max_connections = 8;
    l.max_head_bytes = 1024;
    l.max_body_bytes = 4096;
    l.head_timeout = absl::Milliseconds(500);
    l.body_timeout = absl::Milliseconds(500);
    l.idle_timeout = absl::Milliseconds(500);
    l.write_timeout = absl::Milliseconds(500);
    return l;
  }

  void Start(const HttpLimits& limits) {
    server_.reset();
    HttpServerOptions o;
    o.limits = limits;
    auto s = HttpServer::Start(o, [](const HttpServerRequest& req, HttpServerResponse* res) {
      if (req.path == "/echo") {
        res->body = req.body;
      } else if (req.path == "/big") {
        res->body = std::string(32 << 20, 'x');
      } else if (req.path == "/throw") {
        throw std::runtime_error("boom");
      } else {
        res->body = absl::StrCat(req.method, " ", req.target, " x=", req.Header("x-test"));
      }
    });
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  int port() const { return server_->port(); }

  // Sends `request` on a fresh connection: the status, then whether the
  // server closed the connection.
  std::pair<int, bool> StatusAndClose(const std::string& request) {
    Client c(port());
    EXPECT_TRUE(c.Send(request));
    std::optional<Client::Response> r = c.Read();
    if (!r) return {-1, true};
    return {r->status, r->closes() && c.ClosedWithin(absl::Seconds(10))};
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesRequestsOnOneKeptAliveConnection) {
  Client c(port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send("GET /a?q=1 HTTP/1.1\r\nHost: t\r\nX-Test:  v \r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "GET /a?q=1 x=v");
    EXPECT_FALSE(r->closes());
  }
  ASSERT_TRUE(c.Send(Post("/echo", "hello")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(server_->stats().connections_accepted, 1);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Client c(port());
  ASSERT_TRUE(c.Send(Get("/one") + Post("/echo", "two") + "\r\n" + Get("/three")));
  std::vector<std::string> bodies;
  for (int i = 0; i < 3; ++i) {
    auto r = c.Read();
    ASSERT_TRUE(r) << i;
    bodies.push_back(r->body);
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"GET /one x=", "two", "GET /three x="}));
  // Pipelined behind a response the client reads late (kept in the write state).
  ASSERT_TRUE(c.Send(Get("/big") + Get("/after")));
  auto big = c.Read();
  ASSERT_TRUE(big);
  EXPECT_EQ(big->body.size(), size_t{32} << 20);
  auto after = c.Read();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, "GET /after x=");
}

TEST_F(HttpServerTest, MalformedHeadsAre400AndClose) {
  for (const std::string& bad : {
           std::string("GARBAGE\r\n\r\n"),
           std::string("GET /x HTTP/1.1 extra\r\n\r\n"),
           std::string("GET  /x HTTP/1.1\r\n\r\n"),
           std::string("GET x HTTP/1.1\r\n\r\n"),
           std::string("G(T /x HTTP/1.1\r\n\r\n"),
           std::string("GET /x HTTP/1.1x\r\n\r\n"),
           std::string("GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n"),
           std::string("GET /x HTTP/1.1\r\nName : v\r\n\r\n"),
           std::string("GET /x HTTP/1.1\r\nNoColon\r\n\r\n"),
           std::string("GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"),
           std::string("GET /x HTTP/1.1\r\nA: b\nC: d\r\n\r\n"),
           std::string("GET /x HTTP/1.1\r\nA: b\x01\r\n\r\n"),
       }) {
    EXPECT_EQ(StatusAndClose(bad), std::make_pair(400, true)) << absl::CEscape(bad);
  }
  EXPECT_EQ(StatusAndClose("GET /x HTTP/2.0\r\n\r\n"), std::make_pair(505, true));
  // The server still serves.
  EXPECT_EQ(StatusAndClose("GET /x HTTP/1.0\r\n\r\n"), std::make_pair(200, true)) << "1.0 closes";
  EXPECT_GE(server_->stats().refused, 13);
}

TEST_F(HttpServerTest, OversizedHeadIs431) {
  const std::string pad = std::string(2000, 'a');
  EXPECT_EQ(StatusAndClose(absl::StrCat("GET /x HTTP/1.1\r\nX: ", pad, "\r\n\r\n")), std::make_pair(431, true));
  // Without its blank line yet: refused as soon as it is over the limit.
  EXPECT_EQ(StatusAndClose(absl::StrCat("GET /x HTTP/1.1\r\nX: ", pad)), std::make_pair(431, true));
}

TEST_F(HttpServerTest, BadContentLengthAndTransferEncodingAre400Or501) {
  for (const char* cl : {"abc", "-1", "+5", "1 2", "99999999999999999999"}) {
    EXPECT_EQ(StatusAndClose(absl::StrCat("POST /echo HTTP/1.1\r\nContent-Length: ", cl, "\r\n\r\n")),
              std::make_pair(400, true))
        << cl;
  }
  EXPECT_EQ(StatusAndClose("POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
            std::make_pair(400, true));
  EXPECT_EQ(StatusAndClose("POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            std::make_pair(400, true));
  EXPECT_EQ(StatusAndClose("POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), std::make_pair(501, true));
  EXPECT_EQ(StatusAndClose("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            std::make_pair(400, true));
  // The same length twice is one length.
  EXPECT_EQ(StatusAndClose("POST /echo HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
                           "Connection: close\r\n\r\nab"),
            std::make_pair(200, true));
}

TEST_F(HttpServerTest, ChunkedBodiesAreDecoded) {
  Client c(port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n" +
                     Get("/next")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello world");
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /next x=");
}

TEST_F(HttpServerTest, BodiesOverTheCapAre413AndTheClientSeesIt) {
  // Declared too large: refused before any of it is read...
  const std::string big(20000, 'b');
  EXPECT_EQ(StatusAndClose(Post("/echo", big)), std::make_pair(413, true));
  // ...and chunked, once the chunks add up past the cap.
  std::string chunked = "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 10; ++i) absl::StrAppend(&chunked, "3e8\r\n", std::string(1000, 'c'), "\r\n");
  chunked += "0\r\n\r\n";
  EXPECT_EQ(StatusAndClose(chunked), std::make_pair(413, true));
  // Exactly at the cap is fine.
  EXPECT_EQ(StatusAndClose(Post("/echo", std::string(4096, 'k'))).first, 200);
}

TEST_F(HttpServerTest, HeadGetsNoBodyAndHandlerExceptionsAre500) {
  Client c(port());
  c.set_head_only(true);
  ASSERT_TRUE(c.Send("HEAD /x HTTP/1.1\r\n\r\n" + Get("/y")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(absl::StrContains(r->head, "Content-Length: 10"));
  c.set_head_only(false);
  r = c.Read();  // the body of HEAD was not sent: this is /y's answer
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /y x=");
  EXPECT_EQ(StatusAndClose(Get("/throw")), std::make_pair(500, true));
  EXPECT_EQ(StatusAndClose(Get("/ok")).first, 200);
}

TEST_F(HttpServerTest, TricklingClientIsClosedAtItsHeadDeadlineWhileOthersAreServed) {
  Client slow(port());
  ASSERT_TRUE(slow.connected());
  std::atomic<bool> stop{false};
  const absl::Time start = absl::Now();
  // One byte every 50 ms: under a per-recv timeout this would never end.
  std::thread trickler([&] {
    const std::string head = "GET /slow HTTP/1.1\r\nX-Pad: " + std::string(500, 'p');
    for (size_t i = 0; i < head.size() && !stop && !slow.Readable(absl::Milliseconds(50)); ++i) {
      if (send(slow.fd(), &head[i], 1, MSG_NOSIGNAL) != 1) return;
    }
  });
  int served = 0;
  while (absl::Now() - start < absl::Milliseconds(300)) {
    ASSERT_EQ(StatusAndClose("GET /fast HTTP/1.1\r\nConnection: close\r\n\r\n").first, 200);
    ++served;
  }
  auto r = slow.Read();
  ASSERT_TRUE(r) << "closed without a 408";
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(slow.ClosedWithin(absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "the head deadline is 0.5 s";
  stop = true;
  trickler.join();
  EXPECT_GT(served, 0);
  EXPECT_GE(server_->stats().timed_out, 1);
}

TEST_F(HttpServerTest, TricklingBodyIsClosedAtItsBodyDeadline) {
  Client slow(port());
  ASSERT_TRUE(slow.Send("POST /echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n"));
  const absl::Time start = absl::Now();
  for (int i = 0; i < 200 && !slow.Readable(absl::Milliseconds(50)); ++i) {
    ASSERT_EQ(send(slow.fd(), "b", 1, MSG_NOSIGNAL), 1);
  }
  auto r = slow.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "the body deadline is 0.5 s";
}

TEST_F(HttpServerTest, SilentAndIdleConnectionsAreClosed) {
  Client silent(port());  // connects, never sends
  Client idle(port());
  ASSERT_TRUE(idle.Send(Get("/x")));
  ASSERT_TRUE(idle.Read());
  EXPECT_TRUE(silent.ClosedWithin(absl::Seconds(10)));
  EXPECT_TRUE(idle.ClosedWithin(absl::Seconds(10)));
  EXPECT_TRUE(Eventually([&] { return server_->stats().connections_open == 0; }));
}

TEST_F(HttpServerTest, ClientThatDoesNotReadIsClosedAtTheWriteDeadline) {
  Client c(port());
  int small = 4096;
  setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ASSERT_TRUE(c.Send(Get("/big")));  // 32 MiB, never read
  EXPECT_TRUE(Eventually([&] { return server_->stats().timed_out >= 1; }));
  EXPECT_TRUE(Eventually([&] { return server_->stats().connections_open == 0; }));
}

TEST_F(HttpServerTest, OverTheCapTheIdlestConnectionMakesRoom) {
  HttpLimits l = Limits();
  l.max_connections = 4;
  l.head_timeout = l.idle_timeout = absl::Seconds(30);  // nothing expires by itself here
  Start(l);
  // Two idle keep-alive connections (the first is the oldest) and two
  // half-sent heads.
  std::vector<std::unique_ptr<Client>> idle, slow;
  for (int i = 0; i < 2; ++i) {
    idle.push_back(std::make_unique<Client>(port()));
    ASSERT_TRUE(idle.back()->Send(Get("/x")));
    ASSERT_TRUE(idle.back()->Read());
  }
  for (int i = 0; i < 2; ++i) {
    slow.push_back(std::make_unique<Client>(port()));
    ASSERT_TRUE(slow.back()->Send("GET /slow HTTP/1.1\r\n"));
  }
  ASSERT_TRUE(Eventually([&] { return server_->stats().connections_open == 4; }));
  // A fifth gets in; the oldest idle one goes.
  EXPECT_EQ(StatusAndClose("GET /new HTTP/1.1\r\nConnection: close\r\n\r\n").first, 200);
  EXPECT_TRUE(idle[0]->ClosedWithin(absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return server_->stats().connections_open == 3; }));
  // Full again (a newer half-sent head): the other idle one goes...
  Client a(port());
  ASSERT_TRUE(a.Send("GET /s"));
  ASSERT_TRUE(Eventually([&] { return server_->stats().connections_open == 4; }));
  EXPECT_EQ(StatusAndClose("GET /new HTTP/1.1\r\nConnection: close\r\n\r\n").first, 200);
  EXPECT_TRUE(idle[1]->ClosedWithin(absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return server_->stats().connections_open == 3; }));
  // ...then, with no idle one left, the oldest slow head.
  Client b(port());
  ASSERT_TRUE(b.Send("GET /s"));
  ASSERT_TRUE(Eventually([&] { return server_->stats().connections_open == 4; }));
  EXPECT_EQ(StatusAndClose("GET /new HTTP/1.1\r\nConnection: close\r\n\r\n").first, 200);
  EXPECT_TRUE(slow[0]->ClosedWithin(absl::Seconds(10)));
  ASSERT_TRUE(slow[1]->Send("Host: t\r\n\r\n"));
  auto r = slow[1]->Read();
  ASSERT_TRUE(r) << "a newer connection was evicted before the oldest";
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(server_->stats().evicted, 3);
}

TEST_F(HttpServerTest, StopClosesEveryConnectionAtOnce) {
  HttpLimits l = Limits();
  l.head_timeout = l.idle_timeout = absl::Seconds(60);
  Start(l);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<Client>(port()));
    if (i % 2 == 0) {
      ASSERT_TRUE(clients.back()->Send("GET /half"));
    }
  }
  ASSERT_TRUE(Eventually([&] { return server_->stats().connections_open == 6; }));
  const absl::Time start = absl::Now();
  server_->Stop();
  server_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  for (auto& c : clients) EXPECT_TRUE(c->ClosedWithin(absl::Seconds(5)));
  Client after(port());
  EXPECT_FALSE(after.connected());
}

TEST_F(HttpServerTest, BusyPortFailsToBind) {
  HttpServerOptions o;
  o.port = port();
  auto s = HttpServer::Start(o, [](const HttpServerRequest&, HttpServerResponse*) {});
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace tlgw
