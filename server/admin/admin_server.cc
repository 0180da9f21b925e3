#include "server/admin/admin_server.h"

#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"

namespace tlgw {

AdminServer::~AdminServer() { Stop(); }

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(const AdminOptions& options,
                                                                std::function<std::string()> metrics,
                                                                std::function<bool(std::string*)> ready) {
  HttpServerOptions so;
  so.host = options.host;
  so.port = options.port;
  so.limits = options.limits;
  so.name = "admin";
  auto handler = [metrics = std::move(metrics), ready = std::move(ready)](const HttpServerRequest& req,
                                                                          HttpServerResponse* res) {
    const bool known = req.path == "/healthz" || req.path == "/readyz" || req.path == "/metrics";
    if (!known) {
      res->status = 404;
      res->body = "not found\n";
      return;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res->status = 405;
      res->headers.emplace_back("Allow", "GET, HEAD");
      res->body = "use GET\n";
      return;
    }
    if (req.path == "/healthz") {
      res->body = "ok\n";
    } else if (req.path == "/readyz") {
      std::string why;
      const bool ok = ready(&why);
      res->status = ok ? 200 : 503;
      res->body = ok ? "ready\n" : absl::StrCat("not ready: ", why, "\n");
    } else {
      res->content_type = "text/plain; version=0.0.4; charset=utf-8";
      res->body = metrics();
    }
  };
  auto server = HttpServer::Start(std::move(so), std::move(handler));
  if (!server.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin_listen: cannot listen on ", options.host, ":", options.port, ": ",
                     server.status().message()));
  }
  auto admin = absl::WrapUnique(new AdminServer());
  admin->server_ = *std::move(server);
  return admin;
}

void AdminServer::Stop() {
  if (server_ != nullptr) server_->Stop();
}

}  // namespace tlgw
