#include "server/http/http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace tlgw {

std::string HttpServerRequest::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

int HttpServerRequest::HeaderCount(absl::string_view name) const {
  int n = 0;
  for (const auto& h : headers) n += absl::EqualsIgnoreCase(h.first, name) ? 1 : 0;
  return n;
}

namespace {

// After a response that ends the connection, what the client still sends
// (the rest of a refused body) is read and dropped for this long, so it
// sees the answer instead of a reset; bounded in bytes too.
constexpr absl::Duration kLinger = absl::Seconds(2);
constexpr size_t kMaxLingerBytes = 16 << 20;
// A chunk-size line (size and extensions).
constexpr size_t kMaxChunkLine = 1024;
constexpr size_t kReadSize = 64 << 10;
// Accepting fails while the process is out of file descriptors; retrying
// at once would spin.
constexpr absl::Duration kAcceptPause = absl::Milliseconds(100);

enum class State { kHead, kBody, kWrite, kIdle, kLinger };

// Eviction order over the connection cap: what is least useful first.
int EvictionRank(State s) {
  switch (s) {
    case State::kLinger: return 0;
    case State::kIdle: return 1;
    case State::kHead: return 2;
    case State::kBody: return 3;
    case State::kWrite: return 4;
  }
  return 5;
}

enum class Chunk { kSize, kData, kDataEnd, kTrailer };

struct Conn {
  uint64_t id = 0;
  int fd = -1;
  State state = State::kHead;
  absl::Time since;     // entered `state`
  absl::Time deadline;  // of `state`
  uint32_t interest = 0;
  std::string in;  // read, not yet consumed
  HttpServerRequest req;
  // The body's framing.
  bool chunked = false;
  size_t content_length = 0;
  Chunk chunk = Chunk::kSize;
  size_t chunk_left = 0;
  size_t trailer_bytes = 0;
  bool close_after = false;
  std::string out;
  size_t out_sent = 0;
  size_t lingered = 0;
};

bool IsTchar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), IsTchar); }

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
  }
  return "Status";
}

struct HeadError {
  int status;
  std::string message;
};

// Parses a request head (without its final CRLF CRLF) into `req`, and the
// body's framing into `c`. Strict where leniency lets two parsers disagree
// about where a request ends (smuggling): no bare CR/LF, no folded lines,
// no space before a colon, one agreed Content-Length, no Content-Length
// with Transfer-Encoding.
std::optional<HeadError> ParseHead(absl::string_view head, const HttpLimits& limits, Conn* c) {
  HttpServerRequest& req = c->req;
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  for (absl::string_view line : lines) {
    if (line.find_first_of("\r\n") != absl::string_view::npos) return HeadError{400, "bare CR or LF"};
  }
  std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3) return HeadError{400, "malformed request line"};
  if (!IsToken(parts[0])) return HeadError{400, "malformed method"};
  if (parts[1].empty() || parts[1][0] != '/') return HeadError{400, "malformed request target"};
  for (char ch : parts[1]) {
    if (ch <= 0x20 || ch >= 0x7f) return HeadError{400, "malformed request target"};
  }
  const absl::string_view version = parts[2];
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.size() == 8 && absl::StartsWith(version, "HTTP/") && absl::ascii_isdigit(version[5]) &&
        version[6] == '.' && absl::ascii_isdigit(version[7])) {
      return HeadError{505, "only HTTP/1.0 and HTTP/1.1 are served"};
    }
    return HeadError{400, "malformed HTTP version"};
  }
  req.method = std::string(parts[0]);
  req.target = std::string(parts[1]);
  req.path = req.target.substr(0, req.target.find('?'));
  const bool http10 = version == "HTTP/1.0";
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line.empty() || line[0] == ' ' || line[0] == '\t') return HeadError{400, "malformed header line"};
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
      return HeadError{400, "malformed header name"};
    }
    absl::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    for (char ch : value) {
      const unsigned char u = static_cast<unsigned char>(ch);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return HeadError{400, "control character in a header"};
    }
    req.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }

  const int te = req.HeaderCount("Transfer-Encoding");
  const int cl = req.HeaderCount("Content-Length");
  if (te > 0) {
    if (cl > 0) return HeadError{400, "both Content-Length and Transfer-Encoding"};
    if (http10) return HeadError{400, "Transfer-Encoding in HTTP/1.0"};
    if (te > 1 || !absl::EqualsIgnoreCase(req.Header("Transfer-Encoding"), "chunked")) {
      return HeadError{501, "only the chunked transfer coding is served"};
    }
    c->chunked = true;
  } else if (cl > 0) {
    std::string first;
    for (const auto& [k, v] : req.headers) {
      if (!absl::EqualsIgnoreCase(k, "Content-Length")) continue;
      if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), [](char ch) {
            return absl::ascii_isdigit(static_cast<unsigned char>(ch));
          })) {
        return HeadError{400, "malformed Content-Length"};
      }
      if (!first.empty() && v != first) return HeadError{400, "conflicting Content-Length headers"};
      first = v;
    }
    uint64_t n = 0;
    if (!absl::SimpleAtoi(first, &n)) return HeadError{400, "malformed Content-Length"};
    if (n > limits.max_body_bytes) {
      return HeadError{413, absl::StrCat("the body exceeds ", limits.max_body_bytes, " bytes")};
    }
    c->content_length = static_cast<size_t>(n);
  }
  const std::string connection = absl::AsciiStrToLower(req.Header("Connection"));
  c->close_after = http10;  // HTTP/1.0 keep-alive is not offered
  for (absl::string_view token : absl::StrSplit(connection, ',')) {
    if (absl::StripAsciiWhitespace(token) == "close") c->close_after = true;
  }
  return std::nullopt;
}

}  // namespace

class HttpServer::Loop {
 public:
  Loop(HttpServerOptions options, Handler handler, ErrorHook on_error)
      : options_(std::move(options)), handler_(std::move(handler)), on_error_(std::move(on_error)) {}
  ~Loop() { Stop(); }

  absl::StatusOr<int> Bind();
  void Run();
  void Stop();
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

  std::thread thread;

 private:
  void AcceptAll();
  void OnEvent(Conn& c, uint32_t events);
  void ReadSome(Conn& c);
  void Process(Conn& c);
  bool ReadBody(Conn& c, std::optional<HeadError>* error);
  void Dispatch(Conn& c);
  void Refuse(Conn& c, int status, const std::string& message);
  void Respond(Conn& c, HttpServerResponse res, bool head_only);
  void Flush(Conn& c);
  void AfterResponse(Conn& c);
  void Enter(Conn& c, State s, absl::Duration timeout);
  void Watch(Conn& c, uint32_t interest);
  void Close(Conn& c);
  void ExpireAndSweep();
  int NextTimeoutMs();
  void Count(int64_t Stats::*field, int64_t n = 1) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    stats_.*field += n;
  }

  const HttpServerOptions options_;
  const Handler handler_;
  const ErrorHook on_error_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  // A descriptor held in reserve: when the process is out of descriptors,
  // it is given up to accept one more connection, so that /readyz can still
  // say "not ready" (and a webhook still be answered) instead of the port
  // going silent. Taken again once a descriptor is free.
  int spare_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::once_flag stop_once_;
  // The rest is touched only by the loop thread (Run), so it needs no lock.
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<uint64_t> closed_;  // to erase after the current batch
  uint64_t next_id_ = 2;          // 0 = listener, 1 = wake-up
  absl::Time accept_paused_until_ = absl::InfinitePast();
  bool accept_paused_ = false;
  absl::Time now_;

  mutable absl::Mutex mu_;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<int> HttpServer::Loop::Bind() {
  std::string host = options_.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(options_.name, ": cannot resolve '", options_.host, "'"));
  }
  for (addrinfo* a = found; a != nullptr && listen_fd_ < 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int yes = 1;
    // Not SO_REUSEPORT: a second server must fail to bind a busy port
    // rather than silently share its traffic.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
      listen_fd_ = fd;
    } else {
      close(fd);
    }
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat(options_.name, ": cannot listen on ", options_.host, ":", options_.port));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<sockaddr_in6&>(bound).sin6_port)
                             : ntohs(reinterpret_cast<sockaddr_in&>(bound).sin_port);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return absl::InternalError(absl::StrCat(options_.name, ": no epoll"));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.u64 = 1;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return bound_port;
}

void HttpServer::Loop::Stop() {
  std::call_once(stop_once_, [this] {
    stopping_ = true;
    if (wake_fd_ >= 0) {
      uint64_t one = 1;
      (void)!write(wake_fd_, &one, sizeof(one));
    }
    if (thread.joinable()) thread.join();
    // The loop closed its connections on the way out.
    for (auto& [id, c] : conns_) close(c->fd);
    conns_.clear();
    for (int* fd : {&listen_fd_, &epoll_fd_, &wake_fd_, &spare_fd_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
    absl::MutexLock lock(&mu_);
    stats_.connections_open = 0;
  });
}

void HttpServer::Loop::Run() {
  epoll_event events[64];
  while (!stopping_) {
    const int n = epoll_wait(epoll_fd_, events, 64, NextTimeoutMs());
    if (n < 0 && errno != EINTR) break;
    now_ = absl::Now();
    for (int i = 0; i < n && !stopping_; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == 0) {
        AcceptAll();
      } else if (id != 1) {
        auto it = conns_.find(id);
        // Gone (evicted or closed) earlier in this batch.
        if (it != conns_.end() && it->second->fd >= 0) OnEvent(*it->second, events[i].events);
      }
    }
    ExpireAndSweep();
  }
  for (auto& [id, c] : conns_) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
  }
  conns_.clear();
}

int HttpServer::Loop::NextTimeoutMs() {
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [id, c] : conns_) next = std::min(next, c->deadline);
  if (accept_paused_) next = std::min(next, accept_paused_until_);
  if (next == absl::InfiniteFuture()) return -1;
  const int64_t ms = absl::ToInt64Milliseconds(next - absl::Now()) + 1;
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 60000));
}

void HttpServer::Loop::AcceptAll() {
  for (int i = 0; i < 64; ++i) {  // then let the connections run
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
      close(spare_fd_);  // its slot takes this one connection
      spare_fd_ = -1;
      fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        epoll_event ev{};
        ev.data.u64 = 0;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
        accept_paused_ = true;
        accept_paused_until_ = now_ + kAcceptPause;
      }
      return;
    }
    int yes = 1;
    // Responses go out in one write; no reason to wait for a delayed ACK.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    int live = 0;
    Conn* victim = nullptr;
    for (auto& [id, c] : conns_) {
      if (c->fd < 0) continue;
      ++live;
      // Ties on `since` (accepted in one batch) go to the older id.
      if (victim == nullptr ||
          std::make_tuple(EvictionRank(c->state), c->since, c->id) <
              std::make_tuple(EvictionRank(victim->state), victim->since, victim->id)) {
        victim = c.get();
      }
    }
    if (live >= options_.limits.max_connections && victim != nullptr) {
      Close(*victim);
      Count(&Stats::evicted);
    }
    auto c = std::make_unique<Conn>();
    c->id = next_id_++;
    c->fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = c->id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    c->interest = EPOLLIN;
    // A new connection has the head deadline from the start: connecting
    // and sending nothing is not a free keep-alive.
    Enter(*c, State::kHead, options_.limits.head_timeout);
    conns_.emplace(c->id, std::move(c));
    absl::MutexLock lock(&mu_);
    ++stats_.connections_accepted;
    ++stats_.connections_open;
  }
}

void HttpServer::Loop::Enter(Conn& c, State s, absl::Duration timeout) {
  c.state = s;
  c.since = now_;
  c.deadline = now_ + timeout;
}

void HttpServer::Loop::Watch(Conn& c, uint32_t interest) {
  if (c.interest == interest || c.fd < 0) return;
  epoll_event ev{};
  ev.events = interest;
  ev.data.u64 = c.id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.interest = interest;
}

void HttpServer::Loop::Close(Conn& c) {
  if (c.fd < 0) return;
  close(c.fd);  // also removes it from the epoll set
  c.fd = -1;
  c.deadline = absl::InfiniteFuture();
  closed_.push_back(c.id);
  absl::MutexLock lock(&mu_);
  --stats_.connections_open;
}

void HttpServer::Loop::OnEvent(Conn& c, uint32_t events) {
  if (c.state == State::kWrite) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) Flush(c);
    if (c.fd >= 0 && c.state == State::kHead) Process(c);  // pipelined requests
    return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ReadSome(c);
}

void HttpServer::Loop::ReadSome(Conn& c) {
  char buf[kReadSize];
  // One read per wake-up (level-triggered): a fast sender cannot starve
  // the others, and `in` grows by at most kReadSize past a limit.
  const ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) Close(c);
    return;
  }
  if (n == 0) {  // the client is done; an unfinished request goes unanswered
    Close(c);
    return;
  }
  if (c.state == State::kLinger) {
    c.lingered += static_cast<size_t>(n);
    if (c.lingered > kMaxLingerBytes) Close(c);
    return;
  }
  if (c.state == State::kIdle) Enter(c, State::kHead, options_.limits.head_timeout);
  c.in.append(buf, static_cast<size_t>(n));
  Process(c);
}

// Parses and answers what `in` holds: possibly several pipelined requests.
void HttpServer::Loop::Process(Conn& c) {
  const HttpLimits& limits = options_.limits;
  while (c.fd >= 0) {
    if (c.state == State::kHead) {
      // Empty lines before a request are allowed (RFC 9112 section 2.2).
      size_t blank = 0;
      while (c.in.compare(blank, 2, "\r\n") == 0) blank += 2;
      c.in.erase(0, blank);
      const size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos || end + 4 > limits.max_head_bytes) {
        if (end != std::string::npos || c.in.size() > limits.max_head_bytes) {
          Refuse(c, 431, absl::StrCat("the request head exceeds ", limits.max_head_bytes, " bytes"));
        }
        return;
      }
      c.req = HttpServerRequest();
      c.chunked = false;
      c.content_length = 0;
      c.chunk = Chunk::kSize;
      c.chunk_left = 0;
      c.trailer_bytes = 0;
      std::optional<HeadError> error = ParseHead(absl::string_view(c.in).substr(0, end), limits, &c);
      c.in.erase(0, end + 4);
      if (error.has_value()) {
        Refuse(c, error->status, error->message);
        return;
      }
      Enter(c, State::kBody, limits.body_timeout);
      if ((c.chunked || c.content_length > 0) && c.in.empty() &&
          absl::EqualsIgnoreCase(c.req.Header("Expect"), "100-continue")) {
        // Best effort: a fresh socket always has room for it.
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)send(c.fd, kContinue, sizeof(kContinue) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    }
    if (c.state == State::kBody) {
      std::optional<HeadError> error;
      const bool done = ReadBody(c, &error);
      if (error.has_value()) {
        Refuse(c, error->status, error->message);
        return;
      }
      if (!done) return;
      Dispatch(c);
      continue;  // pipelined requests, if the response went out
    }
    return;  // writing, lingering or idle
  }
}

// Moves body bytes from `in` to the request; true once the body is whole.
bool HttpServer::Loop::ReadBody(Conn& c, std::optional<HeadError>* error) {
  const HttpLimits& limits = options_.limits;
  std::string& body = c.req.body;
  if (!c.chunked) {
    const size_t take = std::min(c.content_length - body.size(), c.in.size());
    body.append(c.in, 0, take);
    c.in.erase(0, take);
    return body.size() == c.content_length;
  }
  size_t pos = 0;
  bool done = false;
  while (!done && !error->has_value()) {
    if (c.chunk == Chunk::kData) {
      const size_t take = std::min(c.chunk_left, c.in.size() - pos);
      if (take == 0) break;
      body.append(c.in, pos, take);
      pos += take;
      c.chunk_left -= take;
      if (c.chunk_left == 0) c.chunk = Chunk::kDataEnd;
      continue;
    }
    if (c.chunk == Chunk::kDataEnd) {
      if (c.in.size() - pos < 2) break;
      if (c.in.compare(pos, 2, "\r\n") != 0) {
        *error = HeadError{400, "malformed chunked body"};
        break;
      }
      pos += 2;
      c.chunk = Chunk::kSize;
      continue;
    }
    const size_t eol = c.in.find("\r\n", pos);
    const size_t line_limit = c.chunk == Chunk::kSize ? kMaxChunkLine : limits.max_head_bytes;
    if (eol == std::string::npos) {
      if (c.in.size() - pos > line_limit) {
        *error = c.chunk == Chunk::kSize ? HeadError{400, "malformed chunked body"}
                                         : HeadError{431, "the trailer is too large"};
      }
      break;
    }
    absl::string_view line = absl::string_view(c.in).substr(pos, eol - pos);
    pos = eol + 2;
    if (c.chunk == Chunk::kTrailer) {
      c.trailer_bytes += line.size() + 2;
      if (line.empty()) {
        done = true;
      } else if (c.trailer_bytes > limits.max_head_bytes) {
        *error = HeadError{431, "the trailer is too large"};
      }
      continue;
    }
    const absl::string_view hex = line.substr(0, line.find(';'));
    uint64_t size = 0;
    bool hex_ok = !hex.empty() && hex.size() <= 15;
    for (char ch : hex) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(ch))) hex_ok = false;
      size = size * 16 + (absl::ascii_isdigit(static_cast<unsigned char>(ch))
                              ? ch - '0'
                              : absl::ascii_tolower(static_cast<unsigned char>(ch)) - 'a' + 10);
    }
    if (!hex_ok) {
      *error = HeadError{400, "malformed chunk size"};
    } else if (size > limits.max_body_bytes - body.size()) {
      *error = HeadError{413, absl::StrCat("the body exceeds ", limits.max_body_bytes, " bytes")};
    } else if (size == 0) {
      c.chunk = Chunk::kTrailer;
    } else {
      c.chunk = Chunk::kData;
      c.chunk_left = static_cast<size_t>(size);
    }
  }
  c.in.erase(0, pos);
  return done;
}

void HttpServer::Loop::Dispatch(Conn& c) {
  Count(&Stats::requests);
  HttpServerResponse res;
  try {
    handler_(c.req, &res);
  } catch (const std::exception&) {
    // Never let one request end the server thread (and the process).
    res = HttpServerResponse();
    res.status = 500;
    res.body = "internal error\n";
    res.close = true;
    if (on_error_) on_error_(c.req, &res);
  }
  Respond(c, std::move(res), c.req.method == "HEAD");
}

void HttpServer::Loop::Refuse(Conn& c, int status, const std::string& message) {
  Count(&Stats::refused);
  HttpServerResponse res;
  res.status = status;
  res.body = message + "\n";
  res.close = true;
  if (on_error_) on_error_(c.req, &res);
  res.close = true;  // what follows in the stream cannot be trusted
  c.in.clear();
  Respond(c, std::move(res), c.req.method == "HEAD");
}

void HttpServer::Loop::Respond(Conn& c, HttpServerResponse res, bool head_only) {
  c.close_after = c.close_after || res.close;
  std::string& out = c.out;
  out.clear();
  c.out_sent = 0;
  absl::StrAppend(&out, "HTTP/1.1 ", res.status, " ", Reason(res.status), "\r\nContent-Type: ",
                  res.content_type, "\r\nContent-Length: ", res.body.size(), "\r\n");
  for (const auto& [k, v] : res.headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
  if (c.close_after) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head_only) out += res.body;
  Enter(c, State::kWrite, options_.limits.write_timeout);
  Watch(c, EPOLLOUT);
  Flush(c);
}

void HttpServer::Loop::Flush(Conn& c) {
  while (c.out_sent < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT comes back
      if (errno == EINTR) continue;
      Close(c);
      return;
    }
    c.out_sent += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out.shrink_to_fit();  // a /metrics answer need not stay held
  AfterResponse(c);
}

void HttpServer::Loop::AfterResponse(Conn& c) {
  if (c.close_after) {
    // Lingering close: half-close, then drop what still comes, so the
    // client reads the answer instead of a reset.
    shutdown(c.fd, SHUT_WR);
    Enter(c, State::kLinger, kLinger);
    Watch(c, EPOLLIN);
    return;
  }
  c.req = HttpServerRequest();
  Watch(c, EPOLLIN);
  if (c.in.empty()) {
    Enter(c, State::kIdle, options_.limits.idle_timeout);
  } else {
    Enter(c, State::kHead, options_.limits.head_timeout);  // pipelined; Process goes on
  }
}

void HttpServer::Loop::ExpireAndSweep() {
  now_ = absl::Now();
  if (spare_fd_ < 0) spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);  // fails while none is free
  if (accept_paused_ && now_ >= accept_paused_until_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
    accept_paused_ = false;
  }
  for (auto& [id, conn] : conns_) {
    Conn& c = *conn;
    if (c.fd < 0 || now_ < c.deadline) continue;
    if (c.state != State::kLinger) Count(&Stats::timed_out);
    if ((c.state == State::kHead && !c.in.empty()) || c.state == State::kBody) {
      // Say why, then linger like any refusal (a plain close with unread
      // bytes would reset the connection and lose the answer).
      Refuse(c, 408, c.state == State::kHead ? "the request head took too long" : "the body took too long");
      continue;
    }
    Close(c);
  }
  for (uint64_t id : closed_) conns_.erase(id);
  closed_.clear();
}

// ---- HttpServer ---------------------------------------------------------------

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options, Handler handler,
                                                              ErrorHook on_error) {
  const HttpLimits& l = options.limits;
  if (options.port < 0 || options.port > 65535 || l.max_connections < 1 || l.max_head_bytes < 64 ||
      l.max_body_bytes < 1 || l.head_timeout <= absl::ZeroDuration() || l.body_timeout <= absl::ZeroDuration() ||
      l.idle_timeout <= absl::ZeroDuration() || l.write_timeout <= absl::ZeroDuration() || handler == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.name, ": need port 0-65535, max_connections >= 1, max_head_bytes >= 64, max_body_bytes >= 1, "
        "positive timeouts and a handler"));
  }
  auto server = absl::WrapUnique(new HttpServer());
  server->loop_ = std::make_unique<Loop>(std::move(options), std::move(handler), std::move(on_error));
  absl::StatusOr<int> port = server->loop_->Bind();
  if (!port.ok()) return port.status();
  server->port_ = *port;
  Loop* loop = server->loop_.get();
  loop->thread = std::thread([loop] { loop->Run(); });
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (loop_ != nullptr) loop_->Stop();
}

HttpServer::Stats HttpServer::stats() const { return loop_->stats(); }

}  // namespace tlgw
