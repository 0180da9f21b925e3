// How a file name goes on the wire in the multipart Content-Disposition
// header of POST /tasks: raw UTF-8 between quotes, as browsers and the
// Twelve Labs SDKs send it (RFC 7578 4.2 allows it; percent-encoding would
// reach the API as literal '%' text). The file name validation refuses every
// byte that would need escaping (quotes, CR, LF and other controls), so what
// the caller named is exactly what is sent. Checked on the bytes a raw
// socket receives from the real transport.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/upstream/curl_transport.h"

namespace tlgw {
namespace {

// Accepts one connection, reads one request (headers and Content-Length
// bytes of body), answers 200 and keeps the request's bytes.
class OneRequestServer {
 public:
  OneRequestServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 1);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneRequestServer() {
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  const std::string& request() const { return request_; }  // after the response arrived

 private:
  void Serve() {
    int c = accept(fd_, nullptr, nullptr);
    char buf[4096];
    size_t body_at = std::string::npos, want = 0;
    while (true) {
      ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) break;
      request_.append(buf, n);
      if (body_at == std::string::npos && (body_at = request_.find("\r\n\r\n")) != std::string::npos) {
        body_at += 4;
        std::string lower = request_.substr(0, body_at);
        for (char& ch : lower) ch = static_cast<char>(tolower(ch));
        size_t at = lower.find("content-length: ");
        if (at != std::string::npos) {
          (void)absl::SimpleAtoi(lower.substr(at + 16, lower.find("\r\n", at) - at - 16), &want);
        }
      }
      if (body_at != std::string::npos && request_.size() >= body_at + want) break;
    }
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    (void)!write(c, answer.data(), answer.size());
    close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::string request_;
};

std::string SentDisposition(const std::string& filename) {
  OneRequestServer server;
  auto transport = CurlTransport::Create(CurlTransportOptions{});
  EXPECT_TRUE(transport.ok()) << transport.status();
  HttpRequest req;
  req.method = "POST";
  req.url = absl::StrCat("http://127.0.0.1:", server.port(), "/v1.3/tasks");
  req.form.push_back(FormPart{"index_id", "0123456789abcdef01234567", std::nullopt, nullptr, 0});
  req.form.push_back(FormPart{"video_file", "12345678", filename, nullptr, 0});
  absl::Notification done;
  absl::StatusOr<HttpResponse> response;
  (*transport)->Send(std::move(req), [&](absl::StatusOr<HttpResponse> r) {
    response = std::move(r);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(response.ok()) << response.status();
  transport->reset();
  const std::string& raw = server.request();
  size_t at = raw.find("Content-Disposition: form-data; name=\"video_file\"");
  if (at == std::string::npos) return "(no video_file part in: " + raw + ")";
  return raw.substr(at, raw.find("\r\n", at) - at);
}

TEST(MultipartEncoding, NonAsciiFileNamesGoOutAsRawUtf8BetweenQuotes) {
  const std::string name = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d (1).mp4";
  EXPECT_EQ(SentDisposition(name),
            absl::StrCat("Content-Disposition: form-data; name=\"video_file\"; filename=\"", name, "\""));
}

TEST(MultipartEncoding, PercentSignsAndApostrophesAreSentAsThemselves) {
  // Not decoded or re-encoded anywhere: the API stores what it receives.
  EXPECT_EQ(SentDisposition("100%25 it's.mp4"),
            "Content-Disposition: form-data; name=\"video_file\"; filename=\"100%25 it's.mp4\"");
}

}  // namespace
}  // namespace tlgw
