// What the gRPC services share, and the admission step every call goes
// through: authentication, permissions, rate limit and the audit record.
// Owned by GatewayServer; services hold pointers that must not outlive it.
#ifndef TL_GATEWAY_SERVER_SERVICES_DEPS_H_
#define TL_GATEWAY_SERVER_SERVICES_DEPS_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/audit/audit_log.h"
#include "server/auth/authenticator.h"
#include "server/common/stream_registry.h"
#include "server/config/config.h"
#include "server/state/request_store.h"
#include "server/common/clock.h"
#include "server/services/multipart_uploader.h"
#include "server/services/upload_budget.h"
#include "server/twelvelabs/api.h"
#include "server/watch/watch_engine.h"

namespace tlgw {

struct ServiceDeps {
  TwelveLabsApi* api = nullptr;
  RequestStore* requests = nullptr;
  OwnershipStore* owners = nullptr;
  Authenticator* auth = nullptr;
  AuditLog* audit = nullptr;  // may be null: no audit trail
  StreamRegistry* streams = nullptr;  // open watch streams, ended on shutdown
  // One engine per kind of watch (watch_kinds.h).
  WatchEngine* task_watches = nullptr;
  WatchEngine* index_watches = nullptr;
  WatchEngine* import_watches = nullptr;
  WatchEngine* asset_watches = nullptr;
  WatchEngine* indexed_asset_watches = nullptr;
  Clock* clock = nullptr;
  // An upload ends when for this long its client sends no message, or the
  // upstream takes none of its bytes or, after the last one, gives no
  // answer (GatewayOptions::upload_idle_timeout).
  absl::Duration upload_idle_timeout = absl::Seconds(60);
  // The upstream time budget of a call without a gRPC deadline
  // (ClientOptions::default_deadline): a unary create ends by then, so its
  // request_id claim can be taken over after it.
  absl::Duration request_timeout = absl::Seconds(60);
  // UploadAsset: files up to this size go in one direct POST, larger ones
  // through a multipart session (§9.1: 200 MB; lowered only by tests).
  int64_t asset_direct_max_bytes = 200'000'000;
  // Chunks in flight and memory of each multipart upload.
  MultipartLimits asset_upload;
  // The bytes all uploads together may hold outside gRPC's buffers
  // (--upload_memory_mib): each reserves its share at its header. Required.
  UploadBudget* upload_budget = nullptr;
  // The configuration in force (it can be reloaded).
  std::function<std::shared_ptr<const GatewayConfig>()> config;
};

// An admitted call: who called, and the options for its upstream calls.
struct Admitted {
  CallIdentity who;
  CallOptions opts;
  // The call's audit record, for ids learnt later (AuditLog::AddResources):
  // null when there is no audit trail.
  AuditLog* audit = nullptr;
  const void* audit_call = nullptr;
};

// Authenticates the call and authorizes `method` ("TaskService.GetTask"),
// and attaches its audit record (`audit_ids` are the ids the call names).
// The error is what the caller must get. Every method calls it first,
// before it validates its request, so a caller without credentials learns
// nothing about the request's rules; the resources a validated request
// names are checked after with Authenticator::CheckResources.
absl::StatusOr<Admitted> Admit(const ServiceDeps& deps, grpc::CallbackServerContext* ctx,
                               absl::string_view method, std::map<std::string, std::string> audit_ids);

// Whether `who` may see a task whose recorded owner is `owner` ("" when
// the gateway has no record of it): its own tasks, and unrecorded ones only
// when its tenant is the declared sole user of its upstream account.
bool OwnerVisible(const CallIdentity& who, const std::string& owner);
// OK when `who` may see the resource recorded in the ownership store under
// `id` (a task, asset or indexed asset id); `not_found` when it may not or
// the gateway has no record of it (and `who` is no declared sole user);
// UNAVAILABLE with RetryInfo (StateStoreUnavailable) when the store cannot
// answer: never OK and never NOT_FOUND on a guess. Callers that need no
// lookup (`who.alone`) never touch the store.
absl::Status CheckOwnedIdVisible(const ServiceDeps& deps, const CallIdentity& who, const std::string& id,
                                 absl::Status not_found);
// CheckOwnedIdVisible for a task, with TaskNotFound.
absl::Status CheckTaskVisible(const ServiceDeps& deps, const CallIdentity& who, const std::string& task_id);
// Whether `who` may see `task`, read from upstream; StateStoreUnavailable
// when the store cannot answer (neither shown nor hidden on a guess).
absl::StatusOr<bool> TaskVisible(const ServiceDeps& deps, const CallIdentity& who,
                                 const twelvelabs::gateway::v1::Task& task);
// The answer for a state-store failure: UNAVAILABLE, reason
// STATE_STORE_UNAVAILABLE, retry after a second.
absl::Status StateStoreUnavailable(const absl::Status& store_error);
// For each of `ids`, whether CheckOwnedIdVisible would pass, in one
// lookup; a store failure is StateStoreUnavailable.
absl::StatusOr<std::vector<bool>> OwnedIdsVisible(const ServiceDeps& deps, const CallIdentity& who,
                                                  const std::vector<std::string>& ids);
// For each of `tasks`, whether `who` may see it. An imported video is
// recorded under its video id, which also serves as its task id.
absl::StatusOr<std::vector<bool>> TasksVisible(
    const ServiceDeps& deps, const CallIdentity& who,
    const google::protobuf::RepeatedPtrField<twelvelabs::gateway::v1::Task>& tasks);

// The NOT_FOUND every "no such task" answer uses, whether upstream has no
// such task or another tenant owns it, so the two cannot be told apart.
absl::Status TaskNotFound(const std::string& task_id);
// `s` with a NOT_FOUND from upstream replaced by TaskNotFound(task_id).
absl::Status UniformNotFound(absl::Status s, const std::string& task_id);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_DEPS_H_
