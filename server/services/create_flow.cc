#include "server/services/create_flow.h"

#include <openssl/sha.h>

#include <memory>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "server/common/log.h"
#include "server/common/status_details.h"

namespace tlgw {

std::string RequestFingerprint(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  if (const auto* f = copy->GetDescriptor()->FindFieldByName("request_id")) {
    copy->GetReflection()->ClearField(copy.get(), f);
  }
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    copy->SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

namespace {

// Reads the created task; falls back to what the create returned.
void ReadCreated(const ServiceDeps& deps, const CallOptions& opts, CreatedTask created,
                 std::string index_id, absl::AnyInvocable<void(absl::StatusOr<gw::Task>)> done) {
  deps.api->GetTask(
      opts, created.id,
      [created, index_id, done = std::move(done)](absl::StatusOr<gw::Task> task) mutable {
        if (task.ok()) {
          done(std::move(task));
          return;
        }
        Log(LogLevel::kWarning, "create", "created task could not be read back",
            {{"task_id", created.id}, {"error", std::string(task.status().message())}});
        gw::Task partial;
        partial.set_id(created.id);
        partial.set_video_id(created.video_id);
        partial.set_index_id(index_id);
        done(std::move(partial));
      });
}

}  // namespace

void RunCreate(const ServiceDeps& deps, const CallOptions& opts, const std::string& tenant,
               const std::string& method,
               const google::protobuf::Message& request, const std::string& request_id,
               const std::string& index_id, StartCreate start,
               absl::AnyInvocable<void(absl::StatusOr<gw::Task>)> done) {
  std::string scope = absl::StrCat(tenant, "/", method);
  if (!request_id.empty()) {
    auto claim = deps.requests->Claim(scope, request_id, RequestFingerprint(request));
    if (!claim.ok()) {
      done(WithErrorInfo(
          absl::UnavailableError(absl::StrCat("cannot record request_id: ", claim.status().message())),
          "STATE_STORE_UNAVAILABLE", kGatewayDomain));
      return;
    }
    switch (claim->outcome) {
      case RequestStore::Outcome::kDone: {
        CreatedTask first{claim->task_id, ""};
        ReadCreated(deps, opts, first, index_id, std::move(done));
        return;
      }
      case RequestStore::Outcome::kInProgress:
        done(WithRetryDelay(
            WithErrorInfo(absl::AbortedError(absl::StrCat(
                              "a ", method, " with request_id '", request_id,
                              "' is still running; retry shortly to get its task")),
                          "REQUEST_IN_PROGRESS", kGatewayDomain),
            absl::Seconds(1)));
        return;
      case RequestStore::Outcome::kConflict:
        done(FieldError("request_id", absl::StrCat("was used before for a ", method,
                                                   " with different fields; use a new request_id "
                                                   "for a new request")));
        return;
      case RequestStore::Outcome::kNew:
        break;
    }
  }
  const ServiceDeps* d = &deps;
  start([d, opts, scope, tenant, request_id, index_id,
         done = std::move(done)](absl::StatusOr<CreatedTask> created) mutable {
    if (created.ok()) {
      // Before anything else, so no tenant can ever see it unowned.
      if (absl::Status s = d->owners->RecordOwner(created->id, tenant); !s.ok()) {
        Log(LogLevel::kError, "create", "task owner not recorded", {{"task_id", created->id}});
      }
    }
    if (!request_id.empty()) {
      absl::Status s = created.ok() ? d->requests->Complete(scope, request_id, created->id)
                                    : d->requests->Release(scope, request_id);
      if (!s.ok()) {
        Log(LogLevel::kError, "create", "request_id record not updated",
            {{"error", std::string(s.message())}});
      }
    }
    if (!created.ok()) {
      done(created.status());
      return;
    }
    ReadCreated(*d, opts, *std::move(created), index_id, std::move(done));
  });
}

}  // namespace tlgw
