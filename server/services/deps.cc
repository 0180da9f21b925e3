#include "server/services/deps.h"

#include "absl/strings/str_cat.h"
#include "server/common/status_details.h"

namespace tlgw {

absl::StatusOr<Admitted> Admit(const ServiceDeps& deps, grpc::CallbackServerContext* ctx,
                               absl::string_view method, std::map<std::string, std::string> audit_ids) {
  auto who = deps.auth->Authorize(*ctx, method);
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
  out.audit = deps.audit;
  out.audit_call = ctx;
  out.who = *std::move(who);
  auto deadline = ctx->deadline();
  out.opts.deadline = deadline == std::chrono::system_clock::time_point::max() ? absl::InfiniteFuture()
                                                                              : absl::FromChrono(deadline);
  out.opts.api_key = out.who.api_key;
  return out;
}

bool OwnerVisible(const CallIdentity& who, const std::string& owner) {
  // Two keys of one account look unrelated to the gateway: only the
  // operator's declaration makes an unrecorded task this tenant's.
  return owner.empty() ? who.sole_user : owner == who.tenant;
}

absl::Status StateStoreUnavailable(const absl::Status& store_error) {
  return WithRetryDelay(
      WithErrorInfo(absl::UnavailableError(absl::StrCat("the gateway's state store cannot answer now (",
                                                        store_error.message(), "); retry shortly")),
                    "STATE_STORE_UNAVAILABLE", kGatewayDomain),
      absl::Seconds(1));
}

absl::Status CheckOwnedIdVisible(const ServiceDeps& deps, const CallIdentity& who, const std::string& id,
                                 absl::Status not_found) {
  if (who.alone) return absl::OkStatus();
  auto owner = deps.owners->Owner(id);
  // Fail closed, and say so: with the store down a tenant sharing a key
  // cannot be told whether the resource is its own.
  if (!owner.ok()) return StateStoreUnavailable(owner.status());
  return OwnerVisible(who, *owner) ? absl::OkStatus() : not_found;
}

absl::Status CheckTaskVisible(const ServiceDeps& deps, const CallIdentity& who, const std::string& task_id) {
  return CheckOwnedIdVisible(deps, who, task_id, TaskNotFound(task_id));
}

absl::StatusOr<std::vector<bool>> OwnedIdsVisible(const ServiceDeps& deps, const CallIdentity& who,
                                                  const std::vector<std::string>& ids) {
  if (who.alone) return std::vector<bool>(ids.size(), true);
  auto owners = deps.owners->Owners(ids);
  if (!owners.ok()) return StateStoreUnavailable(owners.status());
  std::vector<bool> out;
  for (const auto& id : ids) {
    auto it = owners->find(id);
    out.push_back(OwnerVisible(who, it == owners->end() ? std::string() : it->second));
  }
  return out;
}

namespace {

// The ids a task's owner may be recorded under: its own, or (an imported
// video) its video id, which also serves as its task id.
void OwnerKeys(const twelvelabs::gateway::v1::Task& t, std::vector<std::string>* ids) {
  ids->push_back(t.id());
  if (!t.video_id().empty() && t.video_id() != t.id()) ids->push_back(t.video_id());
}

std::string OwnerOf(const std::map<std::string, std::string>& owners, const twelvelabs::gateway::v1::Task& t) {
  auto it = owners.find(t.id());
  if (it == owners.end() && !t.video_id().empty()) it = owners.find(t.video_id());
  return it == owners.end() ? std::string() : it->second;
}

}  // namespace

absl::StatusOr<bool> TaskVisible(const ServiceDeps& deps, const CallIdentity& who,
                                 const twelvelabs::gateway::v1::Task& task) {
  if (who.alone) return true;
  std::vector<std::string> ids;
  OwnerKeys(task, &ids);
  auto owners = deps.owners->Owners(ids);
  if (!owners.ok()) return StateStoreUnavailable(owners.status());  // fail closed, and say so
  return OwnerVisible(who, OwnerOf(*owners, task));
}

absl::StatusOr<std::vector<bool>> TasksVisible(
    const ServiceDeps& deps, const CallIdentity& who,
    const google::protobuf::RepeatedPtrField<twelvelabs::gateway::v1::Task>& tasks) {
  if (who.alone) return std::vector<bool>(tasks.size(), true);
  std::vector<std::string> ids;
  for (const auto& t : tasks) OwnerKeys(t, &ids);
  auto owners = deps.owners->Owners(ids);
  if (!owners.ok()) return StateStoreUnavailable(owners.status());
  std::vector<bool> out;
  for (const auto& t : tasks) out.push_back(OwnerVisible(who, OwnerOf(*owners, t)));
  return out;
}

absl::Status TaskNotFound(const std::string& task_id) {
  return WithErrorInfo(absl::NotFoundError(absl::StrCat("task ", task_id, " was not found")),
                       "RESOURCE_NOT_EXIST", kUpstreamDomain);
}

absl::Status UniformNotFound(absl::Status s, const std::string& task_id) {
  return s.code() == absl::StatusCode::kNotFound ? TaskNotFound(task_id) : s;
}

}  // namespace tlgw
