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

// Looks through a listing served newest first for what an unanswered
// attempt made: items created within the attempt's window (widened by the
// clock skew) that `matches` and owned by no tenant; the earliest wins (the
// attempt's POST came before any later create of the same thing). Reads
// pages until items are older than the window.
template <typename Item>
class NewestFirstSearch : public std::enable_shared_from_this<NewestFirstSearch<Item>> {
 public:
  struct Page {
    std::vector<Item> items;
    int64_t total_pages = 0;
  };
  using Fetch = std::function<void(int page, TwelveLabsApi::Done<Page>)>;
  using Done = TwelveLabsApi::Done<std::optional<Item>>;
  NewestFirstSearch(const ServiceDeps* deps, const RequestStore::Attempt& attempt, Fetch fetch,
                    std::function<bool(const Item&)> matches, Done done)
      : deps_(deps),
        from_(attempt.started - kRecoveryClockSkew),
        to_(attempt.deadline + kRecoveryClockSkew),
        fetch_(std::move(fetch)),
        matches_(std::move(matches)),
        done_(std::move(done)) {}

  void Next() {
    if (page_ > kMaxSearchPages) {
      done_(absl::UnavailableError(
          absl::StrCat("more than ", kMaxSearchPages * kSearchPageLimit, " items to search")));
      return;
    }
    fetch_(page_, [self = this->shared_from_this()](absl::StatusOr<Page> page) {
      self->OnPage(std::move(page));
    });
  }

 private:
  void OnPage(absl::StatusOr<Page> page) {
    if (!page.ok()) {
      done_(page.status());
      return;
    }
    for (Item& item : page->items) {
      if (!item.has_create_time()) continue;  // cannot be placed in the window
      const absl::Time created = FromProto(item.create_time());
      if (created > to_) continue;
      if (created < from_) {  // newest first: the rest are older still
        done_(std::move(best_));
        return;
      }
      if (!matches_(item)) continue;
      auto owner = deps_->owners->Owner(item.id());
      if (!owner.ok()) {
        done_(owner.status());
        return;
      }
      if (owner->empty()) best_ = std::move(item);  // older than the one before
    }
    if (page_ < page->total_pages && !page->items.empty()) {
      ++page_;
      Next();
      return;
    }
    done_(std::move(best_));
  }

  const ServiceDeps* const deps_;
  const absl::Time from_, to_;
  const Fetch fetch_;
  const std::function<bool(const Item&)> matches_;
  Done done_;
  int page_ = 1;
  std::optional<Item> best_;
};

// Reads the created task; falls back to what the create returned.
void ReadTask(const ServiceDeps* deps, const CallOptions& opts, gw::Task created,
              TwelveLabsApi::Done<gw::Task> done) {
  deps->api->GetTask(
      opts, created.id(), [created, done = std::move(done)](absl::StatusOr<gw::Task> task) mutable {
        if (task.ok()) {
          done(std::move(task));
          return;
        }
        Log(LogLevel::kWarning, "create", "created task could not be read back",
            {{"task_id", created.id()}, {"error", std::string(task.status().message())}});
        done(std::move(created));
      });
}

void LogIfFailed(const absl::Status& s, const char* what) {
  if (!s.ok()) Log(LogLevel::kError, "create", what, {{"error", std::string(s.message())}});
}

}  // namespace

void FindUnansweredAsset(const ServiceDeps& deps, const CallOptions& opts,
                         const RequestStore::Attempt& attempt,
                         TwelveLabsApi::Done<std::optional<gw::Asset>> done) {
  using Search = NewestFirstSearch<gw::Asset>;
  const std::string filename = ExpectedFilename(attempt.source);
  TwelveLabsApi* api = deps.api;
  auto fetch = [api, opts, filename](int page, TwelveLabsApi::Done<Search::Page> done) {
    gw::ListAssetsRequest req;
    req.set_filename(filename);  // upstream: a case-insensitive substring
    api->ListAssets(opts, req, page, kSearchPageLimit,
                    [done = std::move(done)](absl::StatusOr<AssetPage> r) mutable {
                      if (!r.ok()) {
                        done(r.status());
                        return;
                      }
                      Search::Page out;
                      out.total_pages = r->total_pages;
                      for (auto& a : *r->assets.mutable_assets()) out.items.push_back(std::move(a));
                      done(std::move(out));
                    });
  };
  std::make_shared<Search>(
      &deps, attempt, std::move(fetch),
      [filename](const gw::Asset& a) { return a.filename() == filename; }, std::move(done))
      ->Next();
}

void FindUnansweredIndexedAsset(const ServiceDeps& deps, const CallOptions& opts,
                                const RequestStore::Attempt& attempt,
                                TwelveLabsApi::Done<std::optional<gw::IndexedAsset>> done) {
  using Search = NewestFirstSearch<gw::IndexedAsset>;
  TwelveLabsApi* api = deps.api;
  auto fetch = [api, opts, index_id = attempt.index_id](int page,
                                                        TwelveLabsApi::Done<Search::Page> done) {
    gw::ListIndexedAssetsRequest req;
    req.set_index_id(index_id);
    req.set_sort_by(gw::INDEXED_ASSET_SORT_FIELD_CREATE_TIME);
    req.set_sort_order(gw::SORT_ORDER_DESCENDING);
    api->ListIndexedAssets(opts, req, page, kSearchPageLimit,
                           [done = std::move(done)](absl::StatusOr<IndexedAssetPage> r) mutable {
                             if (!r.ok()) {
                               done(r.status());
                               return;
                             }
                             Search::Page out;
                             out.total_pages = r->total_pages;
                             for (auto& a : *r->indexed_assets.mutable_indexed_assets()) {
                               out.items.push_back(std::move(a));
                             }
                             done(std::move(out));
                           });
  };
  std::make_shared<Search>(
      &deps, attempt, std::move(fetch),
      [asset_id = attempt.source](const gw::IndexedAsset& a) { return a.asset_id() == asset_id; },
      std::move(done))
      ->Next();
}

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

template <typename Resource>
void RunCreateFlow(const ServiceDeps& deps, const CallOptions& opts, const std::string& tenant,
                   CreateFlow<Resource> flow,
                   absl::AnyInvocable<void(absl::StatusOr<Resource>)> done) {
  using Done = absl::AnyInvocable<void(absl::StatusOr<Resource>)>;
  const std::string scope = CreateScope(tenant, flow.method);
  const std::string method = flow.method;
  const std::string what = flow.what;
  const std::string request_id = flow.request_id;
  const absl::Time now = deps.clock->Now();
  // The create's own deadline: the call's, and for a unary create the
  // gateway's request timeout, which bounds its upstream request too.
  absl::Time deadline = opts.deadline;
  if (!flow.target.streamed) {
    deadline = std::min(deadline, now + deps.request_timeout);
  } else if (deadline == absl::InfiniteFuture()) {
    deadline = now + kUndeadlinedUploadClaim;
  }
  RequestStore::Attempt attempt{flow.target.index_id, flow.target.source, now, deadline};
  const ServiceDeps* d = &deps;
  auto read = std::move(flow.read);
  auto find = std::move(flow.find);
  std::function<bool(const absl::Status&)> may_have_created =
      flow.may_have_created ? std::move(flow.may_have_created) : MayHaveCreated;
  // Records `tenant` as the owner: before anything else, so no tenant can
  // ever see the resource unowned.
  auto own = [d, tenant, what](const std::string& id) {
    if (absl::Status s = d->owners->RecordOwner(id, tenant); !s.ok()) {
      Log(LogLevel::kError, "create", absl::StrCat(what, " owner not recorded"), {{"id", id}});
    }
  };
  // Reads the resource whole.
  auto answer = [read](Resource known, Done done) {
    if (read) {
      read(std::move(known), std::move(done));
    } else {
      done(std::move(known));
    }
  };
  // What runs once the request_id allows a create.
  auto create = [d, scope, request_id, attempt, own, answer, may_have_created](
                    absl::AnyInvocable<void(TwelveLabsApi::Done<Resource>)> start, Done done) {
    start([d, scope, request_id, attempt, own, answer, may_have_created,
           done = std::move(done)](absl::StatusOr<Resource> created) mutable {
      if (created.ok()) own(created->id());
      if (!request_id.empty()) {
        // A failure that leaves open whether upstream made the resource
        // keeps the claim, ended now (so takeable after the store's
        // margin): the retry looks upstream over the attempt's window
        // before creating.
        RequestStore::Attempt ended = attempt;
        ended.deadline = std::min(ended.deadline, d->clock->Now());
        LogIfFailed(created.ok() ? d->requests->Complete(scope, request_id, created->id())
                    : may_have_created(created.status())
                        ? d->requests->Reopen(scope, request_id, ended)
                        : d->requests->Release(scope, request_id),
                    "request_id record not updated");
      }
      if (!created.ok()) {
        done(created.status());
        return;
      }
      answer(*std::move(created), std::move(done));
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
    create(std::move(flow.start), std::move(done));
    return;
  }
  auto claim = deps.requests->Claim(scope, request_id, RequestFingerprint(*flow.request), attempt);
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
      // Owned already; read fresh.
      Resource first;
      first.set_id(claim->task_id);
      if (read) {
        read(std::move(first), std::move(done));
      } else {
        done(std::move(first));
      }
      return;
    }
    case RequestStore::Outcome::kInProgress: {
      // The first create usually answers well before its claim can be
      // taken over: ask for a retry soon, never later than that.
      absl::Duration wait = std::clamp(claim->retry_at - now, absl::Seconds(1), absl::Seconds(5));
      done(WithRetryDelay(WithErrorInfo(absl::AbortedError(absl::StrCat(
                                            "a ", method, " with request_id '", request_id,
                                            "' is still running; retry shortly to get its ", what)),
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
      create(std::move(flow.start), std::move(done));
      return;
    case RequestStore::Outcome::kTakenOver:
      break;
  }
  const RequestStore::Attempt unresolved = claim->unresolved;
  if (unresolved.index_id.empty() && unresolved.source.empty()) {
    // Claimed by a gateway that recorded no attempt (before the upgrade):
    // nothing to look for.
    Log(LogLevel::kWarning, "create", "taking over a claim with no recorded attempt",
        {{"method", method}});
    create(std::move(flow.start), std::move(done));
    return;
  }
  if (!find) {
    // Upstream offers no way to find what the unanswered create made.
    Log(LogLevel::kWarning, "create",
        "an earlier create under this request_id went unanswered and cannot be looked up; creating "
        "again",
        {{"method", method}});
    create(std::move(flow.start), std::move(done));
    return;
  }
  Log(LogLevel::kWarning, "create", "an earlier create under this request_id went unanswered; looking upstream",
      {{"method", method}, {"index_id", unresolved.index_id}});
  find(unresolved, [d, scope, request_id, method, what, unresolved, own, answer,
                    create = std::move(create), start = std::move(flow.start),
                    done = std::move(done)](absl::StatusOr<std::optional<Resource>> found) mutable {
    if (!found.ok()) {
      // Never create blindly: the retry after this looks again.
      LogIfFailed(d->requests->Reopen(scope, request_id, unresolved),
                  "request_id record not reopened");
      done(WithRetryDelay(WithErrorInfo(absl::UnavailableError(absl::StrCat(
                                            "an earlier ", method, " with request_id '", request_id,
                                            "' went unanswered, and whether it created a ", what,
                                            " could not be "
                                            "checked: ",
                                            found.status().message(), "; retry")),
                                        "REQUEST_RECOVERY_FAILED", kGatewayDomain),
                          absl::Seconds(1)));
      return;
    }
    if (!found->has_value()) {
      create(std::move(start), std::move(done));
      return;
    }
    Resource adopted = **std::move(found);
    Log(LogLevel::kInfo, "create", absl::StrCat("adopted the ", what, " of an unanswered create"),
        {{"id", adopted.id()}, {"method", method}});
    own(adopted.id());
    LogIfFailed(d->requests->Complete(scope, request_id, adopted.id()),
                "request_id record not updated");
    answer(std::move(adopted), std::move(done));
  });
}

template void RunCreateFlow<gw::Task>(const ServiceDeps&, const CallOptions&, const std::string&,
                                      CreateFlow<gw::Task>,
                                      absl::AnyInvocable<void(absl::StatusOr<gw::Task>)>);
template void RunCreateFlow<gw::Asset>(const ServiceDeps&, const CallOptions&, const std::string&,
                                       CreateFlow<gw::Asset>,
                                       absl::AnyInvocable<void(absl::StatusOr<gw::Asset>)>);
template void RunCreateFlow<gw::IndexedAsset>(
    const ServiceDeps&, const CallOptions&, const std::string&, CreateFlow<gw::IndexedAsset>,
    absl::AnyInvocable<void(absl::StatusOr<gw::IndexedAsset>)>);

void RunCreate(const ServiceDeps& deps, const CallOptions& opts, const std::string& tenant,
               const std::string& method, const google::protobuf::Message& request,
               const std::string& request_id, const CreateTarget& target, StartCreate start,
               absl::AnyInvocable<void(absl::StatusOr<gw::Task>)> done) {
  const ServiceDeps* d = &deps;
  CreateFlow<gw::Task> flow;
  flow.method = method;
  flow.what = "task";
  flow.request = &request;
  flow.request_id = request_id;
  flow.target = target;
  flow.start = [start = std::move(start),
                index_id = target.index_id](TwelveLabsApi::Done<gw::Task> done) mutable {
    start([index_id, done = std::move(done)](absl::StatusOr<CreatedTask> created) mutable {
      if (!created.ok()) {
        done(created.status());
        return;
      }
      gw::Task task;
      task.set_id(created->id);
      task.set_video_id(created->video_id);
      task.set_index_id(index_id);
      done(std::move(task));
    });
  };
  flow.read = [d, opts, index_id = target.index_id](gw::Task known,
                                                    TwelveLabsApi::Done<gw::Task> done) {
    if (known.index_id().empty()) known.set_index_id(index_id);
    ReadTask(d, opts, std::move(known), std::move(done));
  };
  flow.find = [d, opts](const RequestStore::Attempt& attempt,
                        TwelveLabsApi::Done<std::optional<gw::Task>> done) {
    std::make_shared<TaskSearch>(d, opts, attempt, std::move(done))->Next();
  };
  RunCreateFlow<gw::Task>(deps, opts, tenant, std::move(flow), std::move(done));
}

}  // namespace tlgw
