#include "server/services/create_flow.h"

#include <openssl/sha.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
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

std::string CreateScope(const std::string& tenant, const std::string& method) {
  return absl::StrCat(tenant, "/", method);
}

std::string ExpectedFilename(const std::string& source) {
  // Filenames are plain names (validated: no '/'), so "://" marks a URL.
  size_t scheme = source.find("://");
  if (scheme == std::string::npos) return source;
  absl::string_view rest = absl::string_view(source).substr(scheme + 3);
  absl::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  // youtube.com/watch?v=ID names the video after ID.
  if (size_t v = rest.find("v="); v != absl::string_view::npos && v > 0 &&
                                   (rest[v - 1] == '?' || rest[v - 1] == '&')) {
    return std::string(rest.substr(v + 2, rest.find_first_of("&#", v) - (v + 2)));
  }
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return std::string(host);
  absl::string_view path = rest.substr(slash);
  path = path.substr(0, path.find_first_of("?#"));
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  absl::string_view last = path.substr(path.rfind('/') + 1);
  return std::string(last.empty() ? host : last);
}

namespace {

namespace gw = ::twelvelabs::gateway::v1;

// Pages of the upstream's list read in one search at most: a window of
// seconds holds a handful of uploads of one file into one index.
constexpr int kMaxSearchPages = 20;
constexpr int kSearchPageLimit = 50;
// Claims of uploads without a gRPC deadline: such an upload may run long,
// so its claim is held as long as the fixed staleness of old.
constexpr absl::Duration kUndeadlinedUploadClaim = absl::Minutes(10);

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void SetProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

// Looks upstream for the task an unanswered attempt may have created: in
// its index, under its file name, created within its window (widened by
// the clock skew), owned by no tenant (an owned task is another create's
// answer). The earliest such task wins: the attempt's POST came before any
// later upload of the same file. The list's created_at filter means "that
// UTC day, at or after": a window across midnight is read one day at a
// time, oldest first.
class TaskSearch : public std::enable_shared_from_this<TaskSearch> {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<std::optional<gw::Task>>)>;
  TaskSearch(const ServiceDeps* deps, CallOptions opts, const RequestStore::Attempt& attempt, Done done)
      : deps_(deps),
        opts_(std::move(opts)),
        index_id_(attempt.index_id),
        filename_(ExpectedFilename(attempt.source)),
        from_(attempt.started - kRecoveryClockSkew),
        to_(attempt.deadline + kRecoveryClockSkew),
        day_(from_),
        done_(std::move(done)) {}

  void Next() {
    if (++pages_read_ > kMaxSearchPages) {
      done_(absl::UnavailableError(absl::StrCat("more than ", kMaxSearchPages * kSearchPageLimit,
                                                " tasks to search")));
      return;
    }
    gw::ListTasksRequest req;
    req.set_index_id(index_id_);
    req.set_filename(filename_);
    SetProto(day_, req.mutable_create_time());
    req.set_sort_by(gw::TASK_SORT_FIELD_CREATE_TIME);
    req.set_sort_order(gw::SORT_ORDER_ASCENDING);
    deps_->api->ListTasks(opts_, req, page_, kSearchPageLimit,
                          [self = shared_from_this()](absl::StatusOr<TaskPage> page) {
                            self->OnPage(std::move(page));
                          });
  }

 private:
  void OnPage(absl::StatusOr<TaskPage> page) {
    if (!page.ok()) {
      done_(page.status());
      return;
    }
    for (const gw::Task& task : page->tasks.tasks()) {
      if (!task.has_create_time()) continue;  // cannot be placed in the window
      const absl::Time created = FromProto(task.create_time());
      if (created < from_) continue;
      if (created > to_) {  // oldest first: the rest are later still
        done_(std::optional<gw::Task>());
        return;
      }
      if (task.system_metadata().filename() != filename_) continue;
      auto owner = deps_->owners->Owner(task.id());
      if (!owner.ok()) {
        done_(owner.status());
        return;
      }
      if (!owner->empty()) continue;
      done_(std::optional<gw::Task>(task));
      return;
    }
    if (page_ < page->total_pages) {
      ++page_;
      Next();
      return;
    }
    const absl::TimeZone utc = absl::UTCTimeZone();
    const absl::Time next_day = absl::FromCivil(absl::ToCivilDay(day_, utc) + 1, utc);
    if (next_day <= to_) {
      day_ = next_day;
      page_ = 1;
      Next();
      return;
    }
    done_(std::optional<gw::Task>());
  }

  const ServiceDeps* const deps_;
  const CallOptions opts_;
  const std::string index_id_;
  const std::string filename_;
  const absl::Time from_, to_;
  absl::Time day_;
  int page_ = 1;
  int pages_read_ = 0;
  Done done_;
};

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

bool MayHaveCreated(const absl::Status& failure) {
  switch (failure.code()) {
    // Refused, by upstream's answer or before anything was sent.
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
      return false;
    default:
      break;
  }
  const std::optional<std::string> reason = ErrorReason(failure);
  // The request never left the gateway.
  return !(reason == "UPSTREAM_CONNECT_FAILED" || reason == "UPSTREAM_DNS_FAILED" ||
           reason == "UPSTREAM_TLS_FAILED" || reason == "DEADLINE_EXCEEDED");
}

void RunCreate(const ServiceDeps& deps, const CallOptions& opts, const std::string& tenant,
               const std::string& method,
               const google::protobuf::Message& request, const std::string& request_id,
               const CreateTarget& target, StartCreate start,
               absl::AnyInvocable<void(absl::StatusOr<gw::Task>)> done) {
  std::string scope = CreateScope(tenant, method);
  const absl::Time now = deps.clock->Now();
  // The create's own deadline: the call's, and for a unary create the
  // gateway's request timeout, which bounds its upstream request too.
  absl::Time deadline = opts.deadline;
  if (!target.streamed) {
    deadline = std::min(deadline, now + deps.request_timeout);
  } else if (deadline == absl::InfiniteFuture()) {
    deadline = now + kUndeadlinedUploadClaim;
  }
  RequestStore::Attempt attempt{target.index_id, target.source, now, deadline};
  const ServiceDeps* d = &deps;
  // What runs once the request_id allows a create.
  auto create = [d, opts, scope, tenant, request_id, attempt, index_id = target.index_id](
                    StartCreate start, absl::AnyInvocable<void(absl::StatusOr<gw::Task>)> done) {
    start([d, opts, scope, tenant, request_id, attempt, index_id,
           done = std::move(done)](absl::StatusOr<CreatedTask> created) mutable {
      if (created.ok()) {
        // Before anything else, so no tenant can ever see it unowned.
        if (absl::Status s = d->owners->RecordOwner(created->id, tenant); !s.ok()) {
          Log(LogLevel::kError, "create", "task owner not recorded", {{"task_id", created->id}});
        }
      }
      if (!request_id.empty()) {
        // A failure that leaves open whether upstream made the task keeps
        // the claim, ended now (so takeable after the store's margin): the
        // retry looks upstream over the attempt's window before creating.
        RequestStore::Attempt ended = attempt;
        ended.deadline = std::min(ended.deadline, d->clock->Now());
        absl::Status s = created.ok() ? d->requests->Complete(scope, request_id, created->id)
                         : MayHaveCreated(created.status()) ? d->requests->Reopen(scope, request_id, ended)
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
  };
  if (request_id.empty()) {
    // A tenant sharing its key sees only tasks whose owner was recorded:
    // with the store down, a create now would make a task it could never
    // see. Refused before the upstream POST (a claim below does the same
    // for creates with request_id).
    if (deps.auth != nullptr && !deps.auth->Alone(tenant)) {
      if (absl::Status s = deps.owners->Ready(); !s.ok()) {
        done(StateStoreUnavailable(s));
        return;
      }
    }
    create(std::move(start), std::move(done));
    return;
  }
  auto claim = deps.requests->Claim(scope, request_id, RequestFingerprint(request), attempt);
  if (!claim.ok()) {
    // Before any upstream request: a create with request_id that cannot
    // be recorded is not made (another replica may be making it).
    done(WithRetryDelay(
        WithErrorInfo(
            absl::UnavailableError(absl::StrCat("cannot record request_id: ", claim.status().message(), "; retry")),
            "STATE_STORE_UNAVAILABLE", kGatewayDomain),
        absl::Seconds(1)));
    return;
  }
  switch (claim->outcome) {
    case RequestStore::Outcome::kDone: {
      CreatedTask first{claim->task_id, ""};
      ReadCreated(deps, opts, first, target.index_id, std::move(done));
      return;
    }
    case RequestStore::Outcome::kInProgress: {
      // The first create usually answers well before its claim can be
      // taken over: ask for a retry soon, never later than that.
      absl::Duration wait = std::clamp(claim->retry_at - now, absl::Seconds(1), absl::Seconds(5));
      done(WithRetryDelay(
          WithErrorInfo(absl::AbortedError(absl::StrCat(
                            "a ", method, " with request_id '", request_id,
                            "' is still running; retry shortly to get its task")),
                        "REQUEST_IN_PROGRESS", kGatewayDomain),
          wait));
      return;
    }
    case RequestStore::Outcome::kConflict:
      done(FieldError("request_id", absl::StrCat("was used before for a ", method,
                                                 " with different fields; use a new request_id "
                                                 "for a new request")));
      return;
    case RequestStore::Outcome::kNew:
      create(std::move(start), std::move(done));
      return;
    case RequestStore::Outcome::kTakenOver:
      break;
  }
  const RequestStore::Attempt unresolved = claim->unresolved;
  if (unresolved.index_id.empty()) {
    // Claimed by a gateway that recorded no attempt (before the upgrade):
    // nothing to look for.
    Log(LogLevel::kWarning, "create", "taking over a claim with no recorded attempt",
        {{"method", method}});
    create(std::move(start), std::move(done));
    return;
  }
  Log(LogLevel::kWarning, "create", "an earlier create under this request_id went unanswered; looking upstream",
      {{"method", method}, {"index_id", unresolved.index_id}});
  auto search = std::make_shared<TaskSearch>(
      d, opts, unresolved,
      [d, opts, scope, tenant, request_id, method, unresolved, create = std::move(create),
       start = std::move(start),
       done = std::move(done)](absl::StatusOr<std::optional<gw::Task>> found) mutable {
        if (!found.ok()) {
          // Never create blindly: the retry after this looks again.
          if (absl::Status s = d->requests->Reopen(scope, request_id, unresolved); !s.ok()) {
            Log(LogLevel::kError, "create", "request_id record not reopened",
                {{"error", std::string(s.message())}});
          }
          done(WithRetryDelay(
              WithErrorInfo(absl::UnavailableError(absl::StrCat(
                                "an earlier ", method, " with request_id '", request_id,
                                "' went unanswered, and whether it created a task could not be "
                                "checked: ", found.status().message(), "; retry")),
                            "REQUEST_RECOVERY_FAILED", kGatewayDomain),
              absl::Seconds(1)));
          return;
        }
        if (!found->has_value()) {
          create(std::move(start), std::move(done));
          return;
        }
        const gw::Task& task = **found;
        Log(LogLevel::kInfo, "create", "adopted the task of an unanswered create",
            {{"task_id", task.id()}, {"method", method}});
        if (absl::Status s = d->owners->RecordOwner(task.id(), tenant); !s.ok()) {
          Log(LogLevel::kError, "create", "task owner not recorded", {{"task_id", task.id()}});
        }
        if (absl::Status s = d->requests->Complete(scope, request_id, task.id()); !s.ok()) {
          Log(LogLevel::kError, "create", "request_id record not updated",
              {{"error", std::string(s.message())}});
        }
        ReadCreated(*d, opts, CreatedTask{task.id(), task.video_id()}, task.index_id(),
                    std::move(done));
      });
  search->Next();
}

}  // namespace tlgw
