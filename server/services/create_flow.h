// The shared path of every create: request_id protection, the upstream
// create, and a follow-up read so the caller gets a whole Task.
#ifndef TL_GATEWAY_SERVER_SERVICES_CREATE_FLOW_H_
#define TL_GATEWAY_SERVER_SERVICES_CREATE_FLOW_H_

#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

// SHA-256 (hex) of `request` with its `request_id` field cleared: two
// creates with one request_id must carry the same fields.
std::string RequestFingerprint(const google::protobuf::Message& request);

using StartCreate = absl::AnyInvocable<void(TwelveLabsApi::Done<CreatedTask>)>;

// With an empty request_id, runs `start` and reads the new task. With one:
// a repeat of a completed create answers the first task (read fresh), a
// repeat while the first still runs answers ABORTED (retry shortly), and a
// reuse with different fields answers INVALID_ARGUMENT. When the follow-up
// read fails the create still succeeded, so `done` gets a Task holding what
// the create returned (id, index id, video id) rather than an error that
// would make the caller create again.
// The created task is recorded as `tenant`'s.
void RunCreate(const ServiceDeps& deps, const CallOptions& opts, const std::string& tenant,
               const std::string& method,
               const google::protobuf::Message& request, const std::string& request_id,
               const std::string& index_id, StartCreate start,
               absl::AnyInvocable<void(absl::StatusOr<gw::Task>)> done);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_CREATE_FLOW_H_
