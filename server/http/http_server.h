// A small HTTP/1.1 server for the gateway's own ports (webhook receiver,
// admin): one thread, non-blocking sockets, epoll. Every resource a
// connection can hold is bounded before anything is authenticated: the
// number of connections, the size of a request head and body, and the
// time for a whole head, a whole body, an idle keep-alive gap and a whole
// response write (deadlines, not per-recv timeouts, so a client trickling
// a byte at a time is cut off on time).
//
// Why not cpp-httplib 0.11 (which the simulator keeps): its fixed thread
// pool holds one thread per connection and its read timeout restarts on
// every recv, so a few dozen idle or trickling connections starved it.
//
// Handlers run on the server thread and must be quick (no upstream calls,
// no long waits): one slow handler delays every connection.
#ifndef TL_GATEWAY_SERVER_HTTP_HTTP_SERVER_H_
#define TL_GATEWAY_SERVER_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tlgw {

struct HttpLimits {
  // Connections open at once. One more evicts the connection that has
  // done least lately (lingering, idle keep-alive, then slowest head, body,
  // write: the oldest in each), so a new request always gets in.
  int max_connections = 256;
  size_t max_head_bytes = 16 << 10;  // request line + headers; beyond: 431
  size_t max_body_bytes = 1 << 20;   // decoded body; beyond: 413
  // From the first byte of a request (or the accept) to its blank line.
  absl::Duration head_timeout = absl::Seconds(5);
  // From the end of the head to the last byte of the body.
  absl::Duration body_timeout = absl::Seconds(10);
  // Between a response and the next request's first byte.
  absl::Duration idle_timeout = absl::Seconds(5);
  // To write one whole response to a client that does not read it.
  absl::Duration write_timeout = absl::Seconds(10);
};

struct HttpServerRequest {
  std::string method;  // as sent, e.g. "POST"
  std::string target;  // as sent, e.g. "/metrics?x=1"
  std::string path;    // target without the query
  std::vector<std::pair<std::string, std::string>> headers;  // in order, values trimmed
  std::string body;    // decoded (chunked bodies are reassembled)

  // The first value of header `name` (case-insensitive), or "".
  std::string Header(absl::string_view name) const;
  int HeaderCount(absl::string_view name) const;
};

struct HttpServerResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
  bool close = false;  // end the connection after this response
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free one
  HttpLimits limits;
  // For logs and errors, e.g. "webhook".
  std::string name = "http";
};

class HttpServer {
 public:
  // Every complete, well-formed request. HEAD gets the GET answer without
  // its body.
  using Handler = std::function<void(const HttpServerRequest&, HttpServerResponse*)>;
  // Shapes the answer the server itself gives (400, 404 never: that is the
  // handler's; 408, 411, 413, 431, 501, 505): `response` arrives with the
  // status and a plain-text body; `head` holds what was parsed (the method
  // and path may be empty). Optional; runs on the server thread.
  using ErrorHook = std::function<void(const HttpServerRequest& head, HttpServerResponse* response)>;

  // Binds (SO_REUSEADDR, never SO_REUSEPORT: a busy port fails) and serves
  // on its own thread.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, Handler handler,
                                                           ErrorHook on_error = nullptr);
  ~HttpServer();  // Stops.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Closes the listener and every connection at once (a request being
  // answered is not waited for: handlers are quick) and joins the thread.
  // Idempotent.
  void Stop();

  struct Stats {
    int64_t connections_open = 0;
    int64_t connections_accepted = 0;
    int64_t evicted = 0;    // closed to make room over max_connections
    int64_t timed_out = 0;  // head, body, idle or write deadline passed
    int64_t requests = 0;   // handed to the handler
    int64_t refused = 0;    // answered by the server itself (4xx/5xx above)
  };
  Stats stats() const;

  class Loop;

 private:
  HttpServer() = default;
  std::unique_ptr<Loop> loop_;
  int port_ = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_HTTP_HTTP_SERVER_H_
