#include "server/admin/admin_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/connections.h"

namespace tlgw {

AdminServer::AdminServer() : server_(std::make_unique<httplib::Server>()) {}

AdminServer::~AdminServer() { Stop(); }

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(const AdminOptions& options,
                                                                std::function<std::string()> metrics,
                                                                std::function<bool(std::string*)> ready) {
  auto admin = std::unique_ptr<AdminServer>(new AdminServer());
  httplib::Server& s = *admin->server_;
  s.set_keep_alive_timeout(2);
  // Not SO_REUSEPORT (httplib's default): a busy port must fail to bind.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    // Accepted sockets inherit it: without it a response written as
    // headers then body waits ~40 ms for the client's delayed ACK.
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [ready](const httplib::Request&, httplib::Response& res) {
    std::string why;
    bool ok = ready(&why);
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ready\n" : absl::StrCat("not ready: ", why, "\n"), "text/plain");
  });
  s.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  admin->port_ = options.port == 0 ? s.bind_to_any_port(options.host)
                                   : (s.bind_to_port(options.host, options.port) ? options.port : -1);
  if (admin->port_ <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin_listen: cannot listen on ", options.host, ":", options.port));
  }
  admin->thread_ = std::thread([&s] { s.listen_after_bind(); });
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!s.is_running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  return admin;
}

void AdminServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  // A scraper's idle keep-alive connection would hold shutdown for up to
  // httplib's keep-alive timeout (measured: 1.6 s longer exits).
  ShutdownConnections(port_);
  thread_.join();
}

}  // namespace tlgw
