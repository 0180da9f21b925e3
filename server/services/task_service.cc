#include "server/services/task_service.h"

#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/common/status_details.h"
#include "server/services/create_flow.h"
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

absl::Status IndexDenied(const CallIdentity& who, const std::string& index_id) {
  return WithErrorInfo(absl::PermissionDeniedError(absl::StrCat("client '", who.client_id,
                                                                "' may not use index ", index_id)),
                       "INDEX_NOT_ALLOWED", kGatewayDomain);
}

}  // namespace

grpc::ServerUnaryReactor* TaskServiceImpl::GetTask(grpc::CallbackServerContext* ctx,
                                                   const gw::GetTaskRequest* req, gw::Task* resp) {
  if (auto s = ValidateId("task_id", req->task_id()); !s.ok()) return FinishNow(ctx, s);
  auto call = Admit(*deps_, ctx, "TaskService.GetTask", {}, {{"task_id", req->task_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  if (!TaskVisible(*deps_, call->who, req->task_id())) return FinishNow(ctx, TaskNotFound(req->task_id()));
  auto* reactor = ctx->DefaultReactor();
  deps_->api->GetTask(call->opts, req->task_id(),
                         [reactor, resp, who = call->who, id = req->task_id()](absl::StatusOr<gw::Task> task) {
                           if (task.ok() && !Authenticator::IndexAllowed(who, task->index_id())) {
                             task = IndexDenied(who, task->index_id());
                           }
                           if (task.ok()) *resp = *std::move(task);
                           reactor->Finish(ToGrpcStatus(UniformNotFound(task.status(), id)));
                         });
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListTasks(grpc::CallbackServerContext* ctx,
                                                     const gw::ListTasksRequest* req,
                                                     gw::ListTasksResponse* resp) {
  if (auto s = ValidateListTasks(*req); !s.ok()) return FinishNow(ctx, s);
  auto call = Admit(*deps_, ctx, "TaskService.ListTasks", {req->index_id(), "", ""},
                    {{"index_id", req->index_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  if (req->index_id().empty() && !call->who.indexes.empty()) {
    return FinishNow(ctx, FieldError("index_id", "is required: this client may list only its own indexes"));
  }
  // The filters' fingerprint ties a page token to its listing.
  gw::ListTasksRequest filters = *req;
  filters.clear_page_size();
  filters.clear_page_token();
  std::string fp = RequestFingerprint(filters).substr(0, 16);
  PageToken token{1, req->page_size() > 0 ? req->page_size() : kDefaultTaskPageSize, fp};
  if (!req->page_token().empty()) {
    auto decoded = DecodePageToken("page_token", req->page_token(), fp);
    if (!decoded.ok()) return FinishNow(ctx, decoded.status());
    // The page size of the first request holds for the whole listing: the
    // API pages by number, so a new size would skip or repeat tasks.
    token = *decoded;
  }
  auto* reactor = ctx->DefaultReactor();
  const ServiceDeps* deps = deps_;
  deps_->api->ListTasks(
      call->opts, *req, static_cast<int>(token.page), static_cast<int>(token.page_size),
      [reactor, resp, token, deps, who = call->who](absl::StatusOr<TaskPage> page) {
        if (!page.ok()) {
          reactor->Finish(ToGrpcStatus(page.status()));
          return;
        }
        // More pages when upstream says so; if it sent no page_info, a full
        // page suggests there may be more.
        bool more = page->total_pages > 0
                        ? token.page < page->total_pages
                        : page->tasks.tasks_size() >= token.page_size && page->tasks.tasks_size() > 0;
        if (who.shares_upstream_key) {
          // Another tenant's tasks come back from the shared key: drop them.
          // The page may then be short, and the total is unknown (0).
          for (auto& t : *page->tasks.mutable_tasks()) {
            if (TaskVisible(*deps, who, t.id())) *resp->add_tasks() = std::move(t);
          }
        } else {
          *resp = std::move(page->tasks);
        }
        if (more) {
          PageToken next = token;
          next.page = token.page + 1;
          resp->set_next_page_token(EncodePageToken(next));
        }
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::DeleteTask(grpc::CallbackServerContext* ctx,
                                                      const gw::DeleteTaskRequest* req,
                                                      google::protobuf::Empty*) {
  if (auto s = ValidateId("task_id", req->task_id()); !s.ok()) return FinishNow(ctx, s);
  auto call = Admit(*deps_, ctx, "TaskService.DeleteTask", {}, {{"task_id", req->task_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  if (!TaskVisible(*deps_, call->who, req->task_id())) return FinishNow(ctx, TaskNotFound(req->task_id()));
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
                        reactor->Finish(ToGrpcStatus(IndexDenied(who, task->index_id())));
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
  if (auto s = ValidateId("index_id", req->index_id()); !s.ok()) return FinishNow(ctx, s);
  auto call = Admit(*deps_, ctx, "TaskService.GetIndexTaskCounts", {req->index_id(), "", ""},
                    {{"index_id", req->index_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
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
  if (!s.ok()) return FailedStream<gw::TaskEvent>(s);
  auto call = Admit(*deps_, ctx, "TaskService.WatchIndexTasks", {req->index_id(), "", ""},
                    {{"index_id", req->index_id()}});
  if (!call.ok()) return FailedStream<gw::TaskEvent>(call.status());
  WatchStreamOptions o;
  o.engine = deps_->index_watches;
  o.scope = call->who.tenant;
  o.subject = req->index_id();
  o.resume_after = req->resume_after();
  const ServiceDeps* deps = deps_;
  const bool shared_key = call->who.shares_upstream_key;
  o.filter = [deps, shared_key, statuses, who = call->who](const WatchEvent& e) {
    const auto& task = static_cast<const gw::Task&>(*e.value);
    // Another tenant's tasks come back from a shared key: never shown.
    if (shared_key && !TaskVisible(*deps, who, task.id())) return false;
    return statuses.empty() || statuses.count(task.status()) > 0;
  };
  BindRevocation(*deps_, call->who, &o);
  return NewWatchReactor<gw::TaskEvent>(std::move(o));
}

grpc::ServerWriteReactor<gw::TaskEvent>* TaskServiceImpl::WatchTask(grpc::CallbackServerContext* ctx,
                                                                    const gw::WatchTaskRequest* req) {
  absl::Status s = ValidateId("task_id", req->task_id());
  if (s.ok() && req->resume_after() < 0) {
    s = FieldError("resume_after", "must be 0 or the sequence of the last event received");
  }
  if (!s.ok()) return FailedStream<gw::TaskEvent>(s);
  auto call = Admit(*deps_, ctx, "TaskService.WatchTask", {}, {{"task_id", req->task_id()}});
  if (!call.ok()) return FailedStream<gw::TaskEvent>(call.status());
  if (!TaskVisible(*deps_, call->who, req->task_id())) {
    return FailedStream<gw::TaskEvent>(TaskNotFound(req->task_id()));
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
    o.admit = [who = call->who](const WatchEvent& e) {
      const auto& task = static_cast<const gw::Task&>(*e.value);
      return Authenticator::IndexAllowed(who, task.index_id()) ? absl::OkStatus()
                                                               : IndexDenied(who, task.index_id());
    };
  }
  BindRevocation(*deps_, call->who, &o);
  return NewWatchReactor<gw::TaskEvent>(std::move(o));
}

}  // namespace tlgw
