#include "server/services/task_service.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/status_details.h"
#include "server/services/create_flow.h"
#include "server/services/owned_list.h"
#include "server/services/page_token.h"
#include "server/services/reactor_util.h"
#include "server/services/validation.h"
#include "server/services/watch_reactor.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

absl::Status ValidateListTasks(const gw::ListTasksRequest& req) {
  if (!req.index_id().empty()) {
    if (auto s = ValidateId("index_id", req.index_id()); !s.ok()) return s;
  }
  for (int i = 0; i < req.statuses_size(); ++i) {
    auto st = static_cast<gw::TaskStatus>(req.statuses(i));
    if (st == gw::TASK_STATUS_UNSPECIFIED || st == gw::TASK_STATUS_OTHER ||
        !gw::TaskStatus_IsValid(st)) {
      return FieldError(absl::StrCat("statuses[", i, "]"),
                        "must be a concrete status such as TASK_STATUS_READY");
    }
  }
  if (req.has_duration_seconds() &&
      (!std::isfinite(req.duration_seconds()) || req.duration_seconds() < 0)) {
    return FieldError("duration_seconds", "must be a non-negative number of seconds");
  }
  if (req.has_width() && req.width() <= 0) return FieldError("width", "must be a positive number of pixels");
  if (req.has_height() && req.height() <= 0) return FieldError("height", "must be a positive number of pixels");
  if (req.filename().size() > 1024) return FieldError("filename", "is longer than 1024 characters");
  if (!gw::TaskSortField_IsValid(req.sort_by())) return FieldError("sort_by", "is not a known sort field");
  if (!gw::SortOrder_IsValid(req.sort_order())) return FieldError("sort_order", "is not a known sort order");
  return ValidatePageSize("page_size", req.page_size(), kMaxTaskPageSize);
}

// What a restricted client gets for a task of an index it may not use:
// the answer for a task that does not exist, so it learns nothing.
absl::Status IndexHidden(const std::string& task_id) { return TaskNotFound(task_id); }

}  // namespace

grpc::ServerUnaryReactor* TaskServiceImpl::GetTask(grpc::CallbackServerContext* ctx,
                                                   const gw::GetTaskRequest* req, gw::Task* resp) {
  auto call = Admit(*deps_, ctx, "TaskService.GetTask", {{"task_id", req->task_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  if (auto s = ValidateId("task_id", req->task_id()); !s.ok()) return FinishNow(ctx, s);
  if (auto v = CheckTaskVisible(*deps_, call->who, req->task_id()); !v.ok()) return FinishNow(ctx, v);
  auto* reactor = ctx->DefaultReactor();
  deps_->api->GetTask(call->opts, req->task_id(),
                         [reactor, resp, who = call->who, id = req->task_id()](absl::StatusOr<gw::Task> task) {
                           if (task.ok() && !Authenticator::IndexAllowed(who, task->index_id())) {
                             task = IndexHidden(id);
                           }
                           if (task.ok()) *resp = *std::move(task);
                           reactor->Finish(ToGrpcStatus(UniformNotFound(task.status(), id)));
                         });
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListTasks(grpc::CallbackServerContext* ctx,
                                                     const gw::ListTasksRequest* req,
                                                     gw::ListTasksResponse* resp) {
  auto call = Admit(*deps_, ctx, "TaskService.ListTasks", {{"index_id", req->index_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  if (auto s = ValidateListTasks(*req); !s.ok()) return FinishNow(ctx, s);
  if (auto s = Authenticator::CheckResources(call->who, {req->index_id(), "", ""}); !s.ok()) {
    return FinishNow(ctx, s);
  }
  if (req->index_id().empty() && !call->who.indexes.empty()) {
    return FinishNow(ctx, FieldError("index_id", "is required: this client may list only its own indexes"));
  }
  OwnedListSource<gw::ListTasksResponse, TaskPage> source;
  source.fetch = [api = deps_->api, opts = call->opts, req](int page, int limit, TwelveLabsApi::Done<TaskPage> done) {
    api->ListTasks(opts, *req, page, limit, std::move(done));
  };
  source.visible = [deps = deps_](const CallIdentity& who, const gw::ListTasksResponse& page) {
    return TasksVisible(*deps, who, page.tasks());
  };
  source.default_page_size = kDefaultTaskPageSize;
  source.max_page_size = kMaxTaskPageSize;
  return StartOwnedList(ctx, *std::move(call), *req, resp, std::move(source));
}

grpc::ServerUnaryReactor* TaskServiceImpl::DeleteTask(grpc::CallbackServerContext* ctx,
                                                      const gw::DeleteTaskRequest* req,
                                                      google::protobuf::Empty*) {
  auto call = Admit(*deps_, ctx, "TaskService.DeleteTask", {{"task_id", req->task_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  if (auto s = ValidateId("task_id", req->task_id()); !s.ok()) return FinishNow(ctx, s);
  if (auto v = CheckTaskVisible(*deps_, call->who, req->task_id()); !v.ok()) return FinishNow(ctx, v);
  auto* reactor = ctx->DefaultReactor();
  TwelveLabsApi* client = deps_->api;
  auto del = [reactor, client, opts = call->opts, id = req->task_id()]() {
    client->DeleteTask(opts, id, [reactor, id](absl::Status s) {
      reactor->Finish(ToGrpcStatus(UniformNotFound(s, id)));
    });
  };
  if (call->who.indexes.empty()) {
    del();
  } else {
    // An index-restricted client: read the task to learn its index first.
    client->GetTask(call->opts, req->task_id(),
                    [reactor, del, who = call->who, id = req->task_id()](absl::StatusOr<gw::Task> task) {
                      if (!task.ok()) {
                        reactor->Finish(ToGrpcStatus(UniformNotFound(task.status(), id)));
                      } else if (!Authenticator::IndexAllowed(who, task->index_id())) {
                        reactor->Finish(ToGrpcStatus(IndexHidden(id)));
                      } else {
                        del();
                      }
                    });
  }
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::GetIndexTaskCounts(
    grpc::CallbackServerContext* ctx, const gw::GetIndexTaskCountsRequest* req,
    gw::IndexTaskCounts* resp) {
  auto call = Admit(*deps_, ctx, "TaskService.GetIndexTaskCounts", {{"index_id", req->index_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  if (auto s = ValidateId("index_id", req->index_id()); !s.ok()) return FinishNow(ctx, s);
  if (auto s = Authenticator::CheckResources(call->who, {req->index_id(), "", ""}); !s.ok()) {
    return FinishNow(ctx, s);
  }
  if (!call->who.sole_user) {
    // Upstream counts every task of the index in the account, which other
    // users of the account may share: refused rather than leaked, and
    // rather than estimated from a scan of the whole index.
    return FinishNow(
        ctx, WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                               "GetIndexTaskCounts counts every task of the index in the Twelve Labs "
                               "account, and tenant '", call->who.tenant,
                               "' is not declared the only user of its account. If it is, set "
                               "\"sole_user_of_account\": true on tenant '", call->who.tenant,
                               "' in the gateway's config; otherwise count its own tasks with ListTasks")),
                           "TENANT_NOT_SOLE_USER", kGatewayDomain));
  }
  auto* reactor = ctx->DefaultReactor();
  deps_->api->GetIndexTaskCounts(
      call->opts, req->index_id(),
      [reactor, resp, index_id = req->index_id()](absl::StatusOr<gw::IndexTaskCounts> counts) {
        if (counts.ok()) {
          *resp = *std::move(counts);
          if (resp->index_id().empty()) resp->set_index_id(index_id);
        }
        reactor->Finish(ToGrpcStatus(counts.status()));
      });
  return reactor;
}

grpc::ServerWriteReactor<gw::TaskEvent>* TaskServiceImpl::WatchIndexTasks(
    grpc::CallbackServerContext* ctx, const gw::WatchIndexTasksRequest* req) {
  auto call = Admit(*deps_, ctx, "TaskService.WatchIndexTasks", {{"index_id", req->index_id()}});
  if (!call.ok()) return FailedStream<gw::TaskEvent>(call.status());
  absl::Status s = ValidateId("index_id", req->index_id());
  if (s.ok() && req->resume_after() < 0) {
    s = FieldError("resume_after", "must be 0 or the sequence of the last event received");
  }
  std::set<int> statuses;
  for (int i = 0; s.ok() && i < req->statuses_size(); ++i) {
    auto st = static_cast<gw::TaskStatus>(req->statuses(i));
    if (st == gw::TASK_STATUS_UNSPECIFIED || !gw::TaskStatus_IsValid(st)) {
      s = FieldError(absl::StrCat("statuses[", i, "]"), "must be a status such as TASK_STATUS_READY");
    }
    statuses.insert(st);
  }
  if (s.ok()) s = Authenticator::CheckResources(call->who, {req->index_id(), "", ""});
  if (!s.ok()) return FailedStream<gw::TaskEvent>(s);
  WatchStreamOptions o;
  o.engine = deps_->index_watches;
  o.scope = call->who.tenant;
  o.subject = req->index_id();
  o.resume_after = req->resume_after();
  const ServiceDeps* deps = deps_;
  // Every event (snapshot, change or resume) passes the owner check: the
  // index's tasks come back from the tenant's key, which may show other
  // users' tasks of the account. Whether the tenant is a declared sole
  // user is read at each event, so a reload applies to open streams.
  o.filter = [deps, statuses, who = call->who](const WatchEvent& e) -> absl::StatusOr<bool> {
    const auto& task = static_cast<const gw::Task&>(*e.value);
    if (!statuses.empty() && statuses.count(task.status()) == 0) return false;
    CallIdentity now = who;
    now.sole_user = deps->auth->SoleUser(who.tenant);
    now.alone = deps->auth->Alone(who.tenant);
    return TaskVisible(*deps, now, task);
  };
  BindRevocation(*deps_, call->who, &o);
  return NewWatchReactor<gw::TaskEvent>(std::move(o));
}

grpc::ServerWriteReactor<gw::TaskEvent>* TaskServiceImpl::WatchTask(grpc::CallbackServerContext* ctx,
                                                                    const gw::WatchTaskRequest* req) {
  auto call = Admit(*deps_, ctx, "TaskService.WatchTask", {{"task_id", req->task_id()}});
  if (!call.ok()) return FailedStream<gw::TaskEvent>(call.status());
  absl::Status s = ValidateId("task_id", req->task_id());
  if (s.ok() && req->resume_after() < 0) {
    s = FieldError("resume_after", "must be 0 or the sequence of the last event received");
  }
  if (!s.ok()) return FailedStream<gw::TaskEvent>(s);
  if (auto v = CheckTaskVisible(*deps_, call->who, req->task_id()); !v.ok()) {
    return FailedStream<gw::TaskEvent>(v);
  }
  WatchStreamOptions o;
  o.engine = deps_->task_watches;
  o.scope = call->who.tenant;
  o.subject = req->task_id();
  o.resume_after = req->resume_after();
  o.end_on_terminal = true;
  const std::string task_id = req->task_id();
  o.map_error = [task_id](const absl::Status& e) { return UniformNotFound(e, task_id); };
  if (!call->who.indexes.empty()) {
    // The first event reveals the task's index.
    o.admit = [who = call->who, task_id](const WatchEvent& e) {
      const auto& task = static_cast<const gw::Task&>(*e.value);
      return Authenticator::IndexAllowed(who, task.index_id()) ? absl::OkStatus() : IndexHidden(task_id);
    };
  }
  BindRevocation(*deps_, call->who, &o);
  return NewWatchReactor<gw::TaskEvent>(std::move(o));
}

}  // namespace tlgw
