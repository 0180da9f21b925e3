// The admin HTTP endpoint (cpp-httplib) on its own port: /healthz (the
// process is alive), /readyz (it can serve) and /metrics (Prometheus text
// format). It exposes counts only: never a key, token or request body.
#ifndef TL_GATEWAY_SERVER_ADMIN_ADMIN_SERVER_H_
#define TL_GATEWAY_SERVER_ADMIN_ADMIN_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace tlgw {

struct AdminOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free one
};

class AdminServer {
 public:
  // `metrics` renders the /metrics body; `ready` answers /readyz. Both run
  // on admin threads and must be thread-safe.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(const AdminOptions& options,
                                                            std::function<std::string()> metrics,
                                                            std::function<bool(std::string*)> ready);
  ~AdminServer();  // Stops.
  int port() const { return port_; }
  void Stop();

 private:
  AdminServer();
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_ADMIN_ADMIN_SERVER_H_
