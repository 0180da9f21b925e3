#include "server/services/deps.h"

#include "absl/strings/str_cat.h"
#include "server/common/status_details.h"

namespace tlgw {

absl::StatusOr<Admitted> Admit(const ServiceDeps& deps, grpc::CallbackServerContext* ctx,
                               absl::string_view method, const CallResources& resources,
                               std::map<std::string, std::string> audit_ids) {
  auto who = deps.auth->Authorize(*ctx, method, resources);
  AuditLog::Record record;
  record.resources = std::move(audit_ids);
  Admitted out;
  if (who.ok()) {
    record.client_id = who->client_id;
    record.tenant = who->tenant;
    out.opts.upstream_requests = std::make_shared<std::atomic<int>>(0);
    record.upstream_requests = out.opts.upstream_requests;
  }
  if (deps.audit != nullptr) deps.audit->Attach(ctx, std::move(record));
  if (!who.ok()) return who.status();
  out.who = *std::move(who);
  auto deadline = ctx->deadline();
  out.opts.deadline = deadline == std::chrono::system_clock::time_point::max() ? absl::InfiniteFuture()
                                                                              : absl::FromChrono(deadline);
  out.opts.api_key = out.who.api_key;
  return out;
}

bool TaskVisible(const ServiceDeps& deps, const CallIdentity& who, const std::string& task_id) {
  if (who.only_tenant) return true;  // no other tenant to hide it from
  auto owner = deps.owners->Owner(task_id);
  if (!owner.ok()) return false;  // fail closed
  if (!owner->empty()) return *owner == who.tenant;
  return !who.shares_upstream_key;
}

absl::Status TaskNotFound(const std::string& task_id) {
  return WithErrorInfo(absl::NotFoundError(absl::StrCat("task ", task_id, " was not found")),
                       "RESOURCE_NOT_EXIST", kUpstreamDomain);
}

absl::Status UniformNotFound(absl::Status s, const std::string& task_id) {
  return s.code() == absl::StatusCode::kNotFound ? TaskNotFound(task_id) : s;
}

}  // namespace tlgw
