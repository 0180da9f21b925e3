// The audit trail: one JSON line per gRPC call (time, call id, the caller's
// x-request-id if sent, client id, tenant, method, resource ids, status
// code, latency, upstream requests made), to
// a file or stderr. It records ids and codes only: never a key, a token, a
// request body or an error message (which may quote input).
//
// A server interceptor times every call and writes its line when the call
// ends; handlers attach who called and what they touched with Attach().
// Thread-safe.
#ifndef TL_GATEWAY_SERVER_AUDIT_AUDIT_LOG_H_
#define TL_GATEWAY_SERVER_AUDIT_AUDIT_LOG_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <grpcpp/support/server_interceptor.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tlgw {

class AuditLog {
 public:
  struct Record {
    std::string client_id;
    std::string tenant;
    std::map<std::string, std::string> resources;  // e.g. task_id, index_id
    std::shared_ptr<std::atomic<int>> upstream_requests;
  };

  // `path` "" or "-" writes to stderr; otherwise the file is appended to.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();

  // Attaches the caller's details to the call whose ServerContext is `call`.
  void Attach(const void* call, Record record) ABSL_LOCKS_EXCLUDED(mu_);
  // Adds resource ids a handler learns after Attach (a client stream's
  // header). Nothing happens once the call's line is written.
  void AddResources(const void* call, const std::map<std::string, std::string>& resources)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A factory to hand to ServerBuilder; `this` must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Factory();

 private:
  friend class AuditInterceptor;
  explicit AuditLog(int fd, bool owned) : fd_(fd), owned_(owned) {}
  void Write(const void* call, const std::string& method, int code, double latency_ms,
             const std::string& request_id) ABSL_LOCKS_EXCLUDED(mu_);

  const int fd_;
  const bool owned_;
  absl::Mutex mu_;
  std::unordered_map<const void*, Record> records_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> next_call_id_{1};
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_AUDIT_AUDIT_LOG_H_
