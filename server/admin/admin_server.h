// The admin HTTP endpoint on its own port: /healthz (the process is
// alive), /readyz (it can serve) and /metrics (Prometheus text format). It
// exposes counts only: never a key, token or request body. Served by
// //server/http, whose limits bound what an unauthenticated caller of this
// port can hold.
#ifndef TL_GATEWAY_SERVER_ADMIN_ADMIN_SERVER_H_
#define TL_GATEWAY_SERVER_ADMIN_ADMIN_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/http/http_server.h"

namespace tlgw {

struct AdminOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free one
  // Admin requests carry no body: a small max_body_bytes is enough.
  HttpLimits limits;
};

class AdminServer {
 public:
  // `metrics` renders the /metrics body; `ready` answers /readyz. Both run
  // on the admin server's thread and must be thread-safe and quick.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(const AdminOptions& options,
                                                            std::function<std::string()> metrics,
                                                            std::function<bool(std::string*)> ready);
  ~AdminServer();  // Stops.
  int port() const { return server_->port(); }
  // Closes the listener and every connection. Idempotent.
  void Stop();
  HttpServer::Stats http_stats() const { return server_->stats(); }

 private:
  AdminServer() = default;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_ADMIN_ADMIN_SERVER_H_
