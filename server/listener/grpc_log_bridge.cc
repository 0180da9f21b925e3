#include "server/listener/grpc_log_bridge.h"

#include <map>
#include <utility>

#include <grpc/support/log.h>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "server/common/log.h"

namespace tlgw {

namespace {

struct Handlers {
  absl::Mutex mu;
  int next_id ABSL_GUARDED_BY(mu) = 1;
  std::map<int, std::function<void(const std::string&)>> by_id ABSL_GUARDED_BY(mu);
};

Handlers& handlers() {
  static Handlers* h = new Handlers;  // never destroyed: gRPC may log at exit
  return *h;
}

LogLevel LevelOf(int severity) {
  switch (severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      return LogLevel::kDebug;
    case GPR_LOG_SEVERITY_INFO:
      return LogLevel::kInfo;
    default:
      return LogLevel::kError;
  }
}

void HandleLine(const char* file, int line, int severity, const char* message) {
  const char* text = message != nullptr ? message : "";
  Log(LevelOf(severity), "grpc", text,
      {{"source", std::string(file != nullptr ? file : "") + ":" + std::to_string(line)}});
  // The text gRPC 1.51's tcp_server_posix.cc logs before giving up on a
  // listener (it logs nothing when the listener was shut down on purpose).
  if (absl::StartsWith(text, "Failed accept4")) {
    Handlers& h = handlers();
    absl::MutexLock lock(&h.mu);
    for (auto& [id, handler] : h.by_id) handler(text);
  }
}

void OnGrpcLog(gpr_log_func_args* args) { HandleLine(args->file, args->line, args->severity, args->message); }

}  // namespace

void RouteGrpcLogsToJson() { gpr_set_log_function(&OnGrpcLog); }

int AddAcceptFailureHandler(std::function<void(const std::string&)> handler) {
  Handlers& h = handlers();
  absl::MutexLock lock(&h.mu);
  int id = h.next_id++;
  h.by_id[id] = std::move(handler);
  return id;
}

void RemoveAcceptFailureHandler(int id) {
  Handlers& h = handlers();
  absl::MutexLock lock(&h.mu);
  h.by_id.erase(id);
}

void HandleGrpcLogLineForTest(const char* file, int line, int severity, const char* message) {
  HandleLine(file, line, severity, message);
}

}  // namespace tlgw
