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

// The request store's scope of `method`'s request_ids for `tenant`.
std::string CreateScope(const std::string& tenant, const std::string& method);

// The name upstream gives the video of an attempt (RequestStore::Attempt's
// `source`): the filename of an upload; for a URL, its last path segment,
// or a YouTube URL's video id (as the simulator does; docs/design.md).
std::string ExpectedFilename(const std::string& source);

using StartCreate = absl::AnyInvocable<void(TwelveLabsApi::Done<CreatedTask>)>;

// What a create makes, recorded with its request_id before the upstream
// POST so that a retry after a crash can find the task upstream.
struct CreateTarget {
  std::string index_id;
  std::string source;     // the upload's filename, or the video's URL
  bool streamed = false;  // an upload: bounded by the call's deadline alone
};

// How long past an attempt's recorded window a task created upstream may
// carry a created_at and still be taken for the attempt's: clocks differ.
inline constexpr absl::Duration kRecoveryClockSkew = absl::Minutes(1);

// With an empty request_id, runs `start` and reads the new task. With one:
// a repeat of a completed create answers the first task (read fresh), a
// repeat while the first may still run answers ABORTED with RetryInfo, and
// a reuse with different fields answers INVALID_ARGUMENT. A repeat after
// the first create's deadline passed unanswered (its gateway died) looks
// upstream for the task that create may have made (same index and file
// name, created in its window, owned by no tenant) and answers it; only
// when there is none does it create (UNAVAILABLE when it cannot look).
// When the follow-up read fails the create still succeeded, so `done` gets
// a Task holding what the create returned (id, index id, video id) rather
// than an error that would make the caller create again.
// The created task is recorded as `tenant`'s.
// Whether a create that failed with `failure` may still have made its task
// upstream (a timeout, a reset, a 5xx, a shutdown): its request_id claim is
// then reopened, not released, so a retry looks upstream before creating.
bool MayHaveCreated(const absl::Status& failure);

void RunCreate(const ServiceDeps& deps, const CallOptions& opts, const std::string& tenant,
               const std::string& method,
               const google::protobuf::Message& request, const std::string& request_id,
               const CreateTarget& target, StartCreate start,
               absl::AnyInvocable<void(absl::StatusOr<gw::Task>)> done);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_CREATE_FLOW_H_
