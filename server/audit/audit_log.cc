#include "server/audit/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/common/log.h"
#include "server/common/metrics.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <nlohmann/json.hpp>

namespace tlgw {

namespace {

}  // namespace

class AuditInterceptor : public grpc::experimental::Interceptor {
 public:
  AuditInterceptor(AuditLog* log, grpc::experimental::ServerRpcInfo* info)
      : log_(log), call_(info->server_context()), method_(info->method()), start_(absl::Now()) {}
  ~AuditInterceptor() override {
    log_->Write(call_, method_, code_, absl::ToDoubleMilliseconds(absl::Now() - start_), request_id_);
  }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      // A caller's own correlation id, when it sends one, ties its logs to ours.
      auto* md = methods->GetRecvInitialMetadata();
      if (md != nullptr) {
        auto it = md->find("x-request-id");
        if (it != md->end()) request_id_.assign(it->second.data(), std::min<size_t>(it->second.size(), 128));
      }
    }
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      code_ = static_cast<int>(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  AuditLog* const log_;
  const void* const call_;
  const std::string method_;
  const absl::Time start_;
  std::string request_id_;
  int code_ = static_cast<int>(grpc::StatusCode::CANCELLED);  // no status sent: the call was cut off
};

namespace {

class AuditFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AuditFactory(AuditLog* log) : log_(log) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new AuditInterceptor(log_, info);
  }

 private:
  AuditLog* const log_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  if (path.empty() || path == "-") return std::unique_ptr<AuditLog>(new AuditLog(STDERR_FILENO, false));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--audit_log: cannot open '", path, "': ", strerror(errno)));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(fd, true));
}

AuditLog::~AuditLog() {
  if (owned_) ::close(fd_);
}

void AuditLog::Attach(const void* call, Record record) {
  absl::MutexLock lock(&mu_);
  records_[call] = std::move(record);
}

void AuditLog::AddResources(const void* call, const std::map<std::string, std::string>& resources) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(call);
  if (it == records_.end()) return;  // written already: never a record no line will take
  for (const auto& [name, value] : resources) it->second.resources[name] = value;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> AuditLog::Factory() {
  return std::make_unique<AuditFactory>(this);
}

void AuditLog::Write(const void* call, const std::string& method, int code, double latency_ms,
                     const std::string& request_id) {
  Record record;
  {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(call);
    if (it != records_.end()) {
      record = std::move(it->second);
      records_.erase(it);
    }
  }
  // Health checks and reflection are not audited: they carry no caller.
  if (method.rfind("/grpc.", 0) == 0) return;
  nlohmann::json line;
  line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  line["type"] = "audit";
  line["call_id"] = next_call_id_++;
  // Every value a caller can choose is bounded (BoundedLogValue).
  if (!request_id.empty()) line["request_id"] = BoundedLogValue(request_id);
  line["client_id"] = record.client_id;
  line["tenant"] = record.tenant;
  line["method"] = BoundedLogValue(method);
  nlohmann::json resources = nlohmann::json::object();
  for (const auto& [name, value] : record.resources) resources[name] = BoundedLogValue(value);
  line["resources"] = std::move(resources);
  line["code"] = GrpcCodeName(code);
  line["latency_ms"] = static_cast<int64_t>(latency_ms * 1000) / 1000.0;
  line["upstream_requests"] = record.upstream_requests ? record.upstream_requests->load() : 0;
  std::string out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  ssize_t ignored = ::write(fd_, out.data(), out.size());
  (void)ignored;
}

}  // namespace tlgw
