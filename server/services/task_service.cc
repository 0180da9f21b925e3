#include "server/services/task_service.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
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

}  // namespace

grpc::ServerUnaryReactor* TaskServiceImpl::GetTask(grpc::CallbackServerContext* ctx,
                                                   const gw::GetTaskRequest* req, gw::Task* resp) {
  if (auto s = ValidateId("task_id", req->task_id()); !s.ok()) return FinishNow(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  deps_->client->GetTask(CallOptionsFor(ctx, *deps_), req->task_id(), FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListTasks(grpc::CallbackServerContext* ctx,
                                                     const gw::ListTasksRequest* req,
                                                     gw::ListTasksResponse* resp) {
  if (auto s = ValidateListTasks(*req); !s.ok()) return FinishNow(ctx, s);
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
  deps_->client->ListTasks(
      CallOptionsFor(ctx, *deps_), *req, static_cast<int>(token.page),
      static_cast<int>(token.page_size), [reactor, resp, token](absl::StatusOr<TaskPage> page) {
        if (!page.ok()) {
          reactor->Finish(ToGrpcStatus(page.status()));
          return;
        }
        *resp = std::move(page->tasks);
        // More pages when upstream says so; if it sent no page_info, a full
        // page suggests there may be more.
        bool more = page->total_pages > 0
                        ? token.page < page->total_pages
                        : resp->tasks_size() >= token.page_size && resp->tasks_size() > 0;
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
  auto* reactor = ctx->DefaultReactor();
  deps_->client->DeleteTask(CallOptionsFor(ctx, *deps_), req->task_id(),
                            [reactor](absl::Status s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::GetIndexTaskCounts(
    grpc::CallbackServerContext* ctx, const gw::GetIndexTaskCountsRequest* req,
    gw::IndexTaskCounts* resp) {
  if (auto s = ValidateId("index_id", req->index_id()); !s.ok()) return FinishNow(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  deps_->client->GetIndexTaskCounts(
      CallOptionsFor(ctx, *deps_), req->index_id(),
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
  WatchStreamOptions o;
  for (int i = 0; s.ok() && i < req->statuses_size(); ++i) {
    auto st = static_cast<gw::TaskStatus>(req->statuses(i));
    if (st == gw::TASK_STATUS_UNSPECIFIED || !gw::TaskStatus_IsValid(st)) {
      s = FieldError(absl::StrCat("statuses[", i, "]"), "must be a status such as TASK_STATUS_READY");
    }
    o.statuses.insert(st);
  }
  if (!s.ok()) return FailedStream<gw::TaskEvent>(s);
  IndexWatchHub* hub = deps_->index_hub;
  std::string scope = deps_->tenant, index_id = req->index_id(), key = deps_->api_key;
  o.subscribe = [hub, scope, index_id, key](std::shared_ptr<TaskEventSink> sink) {
    return hub->Subscribe(scope, index_id, key, std::move(sink));
  };
  o.unsubscribe = [hub, scope, index_id](uint64_t id) { hub->Unsubscribe(scope, index_id, id); };
  o.resume_after = req->resume_after();
  return NewWatchReactor(std::move(o));
}

grpc::ServerWriteReactor<gw::TaskEvent>* TaskServiceImpl::WatchTask(grpc::CallbackServerContext* ctx,
                                                                    const gw::WatchTaskRequest* req) {
  absl::Status s = ValidateId("task_id", req->task_id());
  if (s.ok() && req->resume_after() < 0) {
    s = FieldError("resume_after", "must be 0 or the sequence of the last event received");
  }
  if (!s.ok()) return FailedStream<gw::TaskEvent>(s);
  WatchStreamOptions o;
  TaskWatchHub* hub = deps_->task_hub;
  std::string scope = deps_->tenant, task_id = req->task_id(), key = deps_->api_key;
  o.subscribe = [hub, scope, task_id, key](std::shared_ptr<TaskEventSink> sink) {
    return hub->Subscribe(scope, task_id, key, std::move(sink));
  };
  o.unsubscribe = [hub, scope, task_id](uint64_t id) { hub->Unsubscribe(scope, task_id, id); };
  o.resume_after = req->resume_after();
  o.end_on_terminal = true;
  return NewWatchReactor(std::move(o));
}

}  // namespace tlgw
