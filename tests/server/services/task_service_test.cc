// TaskService in process: the real gRPC server and stub, the fake upstream
// and a fake clock (service_harness.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "server/common/status_details.h"
#include "tests/server/services/service_harness.h"

namespace tlgw::testing {
namespace {

using Harness = ServiceHarness;
using TaskWatch = WatchReader<gw::TaskEvent>;

constexpr char kTask1[] = "a00000000000000000000001";
constexpr char kTask2[] = "a00000000000000000000002";
constexpr char kTask3[] = "a00000000000000000000003";
constexpr char kTaskInB[] = "a0000000000000000000000b";

class TaskServiceTest : public ::testing::Test {
 protected:
  explicit TaskServiceTest(GatewayConfig config = DefaultConfig()) : h_(std::move(config)) {}

  grpc::Status Get(const std::string& token, const std::string& id, gw::Task* out = nullptr) {
    gw::GetTaskRequest req;
    req.set_task_id(id);
    gw::Task t;
    return h_.tasks()->GetTask(Harness::Ctx(token).get(), req, out != nullptr ? out : &t);
  }
  grpc::Status Delete(const std::string& token, const std::string& id) {
    gw::DeleteTaskRequest req;
    req.set_task_id(id);
    google::protobuf::Empty e;
    return h_.tasks()->DeleteTask(Harness::Ctx(token).get(), req, &e);
  }
  grpc::Status List(const std::string& token, const gw::ListTasksRequest& req, gw::ListTasksResponse* out) {
    return h_.tasks()->ListTasks(Harness::Ctx(token).get(), req, out);
  }
  // A task created through the gateway by `token`'s tenant (so owned by it).
  std::string Create(const std::string& token, const std::string& index_id = kIndexA) {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(index_id);
    req.set_video_url("https://cdn.example.com/owned.mp4");
    gw::Task t;
    grpc::Status s = h_.uploads()->CreateUrlTask(Harness::Ctx(token).get(), req, &t);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return t.id();
  }
  std::unique_ptr<TaskWatch> WatchTask(const std::string& token, const std::string& id,
                                       int64_t resume_after = 0) {
    gw::WatchTaskRequest req;
    req.set_task_id(id);
    req.set_resume_after(resume_after);
    auto* stub = h_.tasks();
    return std::make_unique<TaskWatch>(Harness::Ctx(token, absl::Seconds(30)),
                                       [stub, req](grpc::ClientContext* ctx) { return stub->WatchTask(ctx, req); });
  }
  std::unique_ptr<TaskWatch> WatchIndex(const std::string& token, const std::string& index_id,
                                        int64_t resume_after = 0, std::vector<gw::TaskStatus> statuses = {}) {
    gw::WatchIndexTasksRequest req;
    req.set_index_id(index_id);
    req.set_resume_after(resume_after);
    for (auto s : statuses) req.add_statuses(s);
    auto* stub = h_.tasks();
    return std::make_unique<TaskWatch>(Harness::Ctx(token, absl::Seconds(30)), [stub, req](grpc::ClientContext* ctx) {
      return stub->WatchIndexTasks(ctx, req);
    });
  }
  // Changes `id` upstream to `status`, updated `updated`.
  void SetStatus(const std::string& id, gw::TaskStatus status, int64_t updated) {
    auto t = h_.api().task(id);
    ASSERT_TRUE(t.has_value()) << id;
    gw::Task next = MakeTask(id, t->index_id(), status, updated);
    next.set_video_id(t->video_id());
    h_.api().PutTask(next);
  }

  Harness h_;
};

// ---- REST mapping -----------------------------------------------------------

TEST_F(TaskServiceTest, GetTaskIsOneRestCallWithTheCallersTenantKey) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_INDEXING));
  gw::Task task;
  grpc::Status s = Get(kMediaToken, kTask1, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(task.id(), kTask1);
  EXPECT_EQ(task.index_id(), kIndexA);
  EXPECT_EQ(task.status(), gw::TASK_STATUS_INDEXING);
  auto calls = h_.api().calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "GetTask");
  EXPECT_EQ(calls[0].id, kTask1);
  EXPECT_EQ(calls[0].opts.api_key, kMediaKey);
  EXPECT_NE(calls[0].opts.deadline, absl::InfiniteFuture()) << "the client's deadline is carried upstream";

  // The other tenant has its own key.
  ASSERT_TRUE(Get(kNewsToken, kTask1).ok());
  EXPECT_EQ(h_.api().calls().back().opts.api_key, kNewsKey);
}

TEST_F(TaskServiceTest, ListTasksPassesFiltersAndPagesWithTokens) {
  for (int i = 0; i < 5; ++i) {
    gw::Task t = MakeTask(absl::StrCat("a0000000000000000000001", i), kIndexA, gw::TASK_STATUS_READY,
                          1767225600 + i);
    t.mutable_system_metadata()->set_filename("clip.mp4");  // the fake filters by name
    h_.api().PutTask(t);
  }
  h_.api().PutTask(MakeTask(kTaskInB, kIndexB, gw::TASK_STATUS_READY));
  gw::ListTasksRequest req;
  req.set_index_id(kIndexA);
  req.add_statuses(gw::TASK_STATUS_READY);
  req.set_filename("clip.mp4");
  req.set_width(1920);
  req.set_sort_by(gw::TASK_SORT_FIELD_UPDATE_TIME);
  req.set_page_size(2);
  std::vector<std::string> seen;
  std::string token;
  for (int page = 1; page <= 3; ++page) {
    gw::ListTasksRequest r = req;
    r.set_page_token(token);
    if (page > 1) r.clear_page_size();  // the first request's size holds for the listing
    gw::ListTasksResponse resp;
    grpc::Status s = List(kMediaToken, r, &resp);
    ASSERT_TRUE(s.ok()) << "page " << page << ": " << Describe(s);
    for (const auto& t : resp.tasks()) seen.push_back(t.id());
    auto call = h_.api().calls().back();
    EXPECT_EQ(call.method, "ListTasks");
    EXPECT_EQ(call.index_id, kIndexA);
    EXPECT_EQ(call.page, page);
    EXPECT_EQ(call.opts.api_key, kMediaKey);
    const auto& sent = static_cast<const gw::ListTasksRequest&>(*call.request);
    ASSERT_EQ(sent.statuses_size(), 1);
    EXPECT_EQ(sent.statuses(0), gw::TASK_STATUS_READY);
    EXPECT_EQ(sent.filename(), "clip.mp4");
    EXPECT_EQ(sent.width(), 1920);
    EXPECT_EQ(sent.sort_by(), gw::TASK_SORT_FIELD_UPDATE_TIME);
    token = resp.next_page_token();
    if (page < 3) {
      EXPECT_FALSE(token.empty()) << "page " << page;
    }
  }
  EXPECT_TRUE(token.empty()) << "no page after the last";
  EXPECT_EQ(seen.size(), 5u);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end()) << "a task was listed twice";

  // A token is bound to its filters.
  gw::ListTasksRequest first = req;
  gw::ListTasksResponse resp;
  ASSERT_TRUE(List(kMediaToken, first, &resp).ok());
  gw::ListTasksRequest other = req;
  other.set_filename("other.mp4");
  other.set_page_token(resp.next_page_token());
  const size_t calls_before = h_.api().calls().size();
  grpc::Status s = List(kMediaToken, other, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "page_token")) << s.error_message();
  EXPECT_EQ(h_.api().calls().size(), calls_before);
}

TEST_F(TaskServiceTest, DeleteTaskAndIndexCountsMapToTheirRestCalls) {
  std::string id = Create(kMediaToken);
  grpc::Status s = Delete(kMediaToken, id);
  ASSERT_TRUE(s.ok()) << Describe(s);
  auto call = h_.api().calls().back();
  EXPECT_EQ(call.method, "DeleteTask");
  EXPECT_EQ(call.id, id);
  EXPECT_EQ(call.opts.api_key, kMediaKey);
  EXPECT_FALSE(h_.api().task(id).has_value());

  gw::IndexTaskCounts counts;
  counts.set_index_id(kIndexA);
  counts.set_ready(3);
  counts.set_total(4);
  h_.api().SetIndexCounts(counts);
  gw::GetIndexTaskCountsRequest req;
  req.set_index_id(kIndexA);
  gw::IndexTaskCounts got;
  s = h_.tasks()->GetIndexTaskCounts(Harness::Ctx(kNewsToken).get(), req, &got);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(got.ready(), 3);
  EXPECT_EQ(got.total(), 4);
  call = h_.api().calls().back();
  EXPECT_EQ(call.method, "GetIndexTaskCounts");
  EXPECT_EQ(call.index_id, kIndexA);
  EXPECT_EQ(call.opts.api_key, kNewsKey);
}

// ---- Validation, authentication, authorization ---------------------------------

TEST_F(TaskServiceTest, BadInputIsInvalidArgumentNamingTheFieldBeforeAnyUpstreamCall) {
  struct Case {
    std::string name;
    std::function<grpc::Status()> call;
    std::string field;
  };
  auto list = [this](std::function<void(gw::ListTasksRequest*)> edit) {
    return [this, edit] {
      gw::ListTasksRequest r;
      r.set_index_id(kIndexA);
      edit(&r);
      gw::ListTasksResponse resp;
      return List(kMediaToken, r, &resp);
    };
  };
  auto stream_status = [](std::unique_ptr<TaskWatch> w) {
    auto s = w->Finish();
    return s.has_value() ? *s : grpc::Status(grpc::StatusCode::UNKNOWN, "the stream did not end");
  };
  std::vector<Case> cases = {
      {"empty task id", [this] { return Get(kMediaToken, ""); }, "task_id"},
      {"path in task id", [this] { return Get(kMediaToken, "../../indexes"); }, "task_id"},
      {"upper-case task id", [this] { return Get(kMediaToken, "A00000000000000000000001"); }, "task_id"},
      {"delete short id", [this] { return Delete(kMediaToken, "1234"); }, "task_id"},
      {"list bad index", list([](auto* r) { r->set_index_id("xyz"); }), "index_id"},
      {"list page size", list([](auto* r) { r->set_page_size(51); }), "page_size"},
      {"list negative page size", list([](auto* r) { r->set_page_size(-1); }), "page_size"},
      {"list garbage token", list([](auto* r) { r->set_page_token("not-a-token"); }), "page_token"},
      {"list unspecified status", list([](auto* r) { r->add_statuses(gw::TASK_STATUS_UNSPECIFIED); }),
       "statuses[0]"},
      {"list other status", list([](auto* r) {
         r->add_statuses(gw::TASK_STATUS_READY);
         r->add_statuses(gw::TASK_STATUS_OTHER);
       }),
       "statuses[1]"},
      {"list width", list([](auto* r) { r->set_width(0); }), "width"},
      {"list height", list([](auto* r) { r->set_height(-5); }), "height"},
      {"list duration", list([](auto* r) { r->set_duration_seconds(-1); }), "duration_seconds"},
      {"list long filename", list([](auto* r) { r->set_filename(std::string(1025, 'x')); }), "filename"},
      {"list sort field", list([](auto* r) { r->set_sort_by(static_cast<gw::TaskSortField>(42)); }), "sort_by"},
      {"counts without index",
       [this] {
         gw::IndexTaskCounts c;
         return h_.tasks()->GetIndexTaskCounts(Harness::Ctx(kMediaToken).get(), {}, &c);
       },
       "index_id"},
      {"watch bad id", [&] { return stream_status(WatchTask(kMediaToken, "nope")); }, "task_id"},
      {"watch negative resume", [&] { return stream_status(WatchTask(kMediaToken, kTask1, -1)); }, "resume_after"},
      {"index watch bad index", [&] { return stream_status(WatchIndex(kMediaToken, "")); }, "index_id"},
      {"index watch negative resume", [&] { return stream_status(WatchIndex(kMediaToken, kIndexA, -3)); },
       "resume_after"},
      {"index watch unspecified status",
       [&] { return stream_status(WatchIndex(kMediaToken, kIndexA, 0, {gw::TASK_STATUS_UNSPECIFIED})); },
       "statuses[0]"},
  };
  for (const auto& c : cases) {
    grpc::Status s = c.call();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name << ": " << Describe(s);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), c.field)) << c.name << ": " << s.error_message();
    auto fields = BadFieldsOf(s);
    EXPECT_TRUE(std::find(fields.begin(), fields.end(), c.field) != fields.end())
        << c.name << ": BadRequest does not name " << c.field;
  }
  EXPECT_TRUE(h_.api().calls().empty()) << "bad input reached upstream";
}

TEST_F(TaskServiceTest, MissingOrBadCredentialsAreUnauthenticatedWithoutUpstreamCalls) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_INDEXING));
  for (const std::string& header :
       {std::string(), std::string("Bearer wrong-token"), std::string("Basic abc"), std::string("Bearer ")}) {
    auto ctx = Harness::Ctx("");
    if (!header.empty()) ctx->AddMetadata("authorization", header);
    gw::GetTaskRequest req;
    req.set_task_id(kTask1);
    gw::Task t;
    grpc::Status s = h_.tasks()->GetTask(ctx.get(), req, &t);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "'" << header << "': " << Describe(s);
    ASSERT_TRUE(ErrorInfoOf(s).has_value()) << header;
    EXPECT_EQ(ErrorInfoOf(s)->reason(), "UNAUTHENTICATED");
    EXPECT_EQ(ErrorInfoOf(s)->domain(), kGatewayDomain);
  }
  gw::ListTasksResponse resp;
  EXPECT_EQ(List("nope", gw::ListTasksRequest(), &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Delete("nope", kTask1).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto watch = WatchTask("nope", kTask1);
  auto end = watch->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(watch->Next(absl::ZeroDuration()).has_value());
  auto index_watch = WatchIndex("", kIndexA);
  end = index_watch->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(h_.api().calls().empty()) << "unauthenticated calls reached upstream";
  EXPECT_EQ(h_.task_watches().stats().entries, 0);
}

// A caller without valid credentials learns nothing about a method's input
// rules: every method of the three services answers UNAUTHENTICATED to a
// malformed request, before looking at it.
TEST_F(TaskServiceTest, EveryMethodAuthenticatesBeforeItValidatesItsRequest) {
  using Call = std::function<grpc::Status(grpc::ClientContext*)>;
  auto unary = [](auto fn) { return Call(fn); };
  auto* tasks = h_.tasks();
  auto* uploads = h_.uploads();
  auto* integrations = h_.integrations();
  // A stream refused at its start ends without a message.
  auto read_all = [](auto reader) { return reader->Finish(); };
  std::vector<std::pair<std::string, Call>> methods = {
      {"GetTask", unary([tasks](grpc::ClientContext* ctx) {
         gw::GetTaskRequest r;
         r.set_task_id("../../indexes");
         gw::Task t;
         return tasks->GetTask(ctx, r, &t);
       })},
      {"ListTasks", unary([tasks](grpc::ClientContext* ctx) {
         gw::ListTasksRequest r;
         r.set_index_id("xyz");
         r.set_page_size(999);
         r.set_page_token("not-a-token");
         gw::ListTasksResponse resp;
         return tasks->ListTasks(ctx, r, &resp);
       })},
      {"DeleteTask", unary([tasks](grpc::ClientContext* ctx) {
         gw::DeleteTaskRequest r;
         r.set_task_id("1");
         google::protobuf::Empty e;
         return tasks->DeleteTask(ctx, r, &e);
       })},
      {"GetIndexTaskCounts", unary([tasks](grpc::ClientContext* ctx) {
         gw::IndexTaskCounts c;
         return tasks->GetIndexTaskCounts(ctx, gw::GetIndexTaskCountsRequest(), &c);
       })},
      {"WatchTask", unary([tasks, read_all](grpc::ClientContext* ctx) {
         gw::WatchTaskRequest r;
         r.set_task_id("nope");
         r.set_resume_after(-1);
         return read_all(tasks->WatchTask(ctx, r));
       })},
      {"WatchIndexTasks", unary([tasks, read_all](grpc::ClientContext* ctx) {
         gw::WatchIndexTasksRequest r;
         r.add_statuses(gw::TASK_STATUS_UNSPECIFIED);
         return read_all(tasks->WatchIndexTasks(ctx, r));
       })},
      {"CreateExternalProviderTask", unary([uploads](grpc::ClientContext* ctx) {
         gw::CreateExternalProviderTaskRequest r;
         r.set_index_id("x");
         r.set_url("ftp://nowhere");
         gw::Task t;
         return uploads->CreateExternalProviderTask(ctx, r, &t);
       })},
      {"CreateUrlTask", unary([uploads](grpc::ClientContext* ctx) {
         gw::CreateUrlTaskRequest r;
         r.set_video_url("https://www.youtube.com/watch?v=x");
         r.set_request_id("not valid!");
         gw::Task t;
         return uploads->CreateUrlTask(ctx, r, &t);
       })},
      {"UploadVideoFile", unary([uploads](grpc::ClientContext* ctx) {
         gw::Task t;
         auto writer = uploads->UploadVideoFile(ctx, &t);
         gw::UploadVideoFileRequest r;
         r.mutable_header()->set_index_id("x");
         r.mutable_header()->set_filename("../etc/passwd");
         writer->Write(r);
         writer->WritesDone();
         return writer->Finish();
       })},
      {"ListIntegrations", unary([integrations](grpc::ClientContext* ctx) {
         gw::ListIntegrationsRequest r;
         r.set_page_size(1000);
         gw::ListIntegrationsResponse resp;
         return integrations->ListIntegrations(ctx, r, &resp);
       })},
      {"ImportVideos", unary([integrations](grpc::ClientContext* ctx) {
         gw::ImportVideosResponse resp;
         return integrations->ImportVideos(ctx, gw::ImportVideosRequest(), &resp);
       })},
      {"GetImportStatus", unary([integrations](grpc::ClientContext* ctx) {
         gw::ImportStatus resp;
         return integrations->GetImportStatus(ctx, gw::GetImportStatusRequest(), &resp);
       })},
      {"ListImportLogs", unary([integrations](grpc::ClientContext* ctx) {
         gw::ListImportLogsRequest r;
         r.set_page_size(-1);
         gw::ListImportLogsResponse resp;
         return integrations->ListImportLogs(ctx, r, &resp);
       })},
      {"CheckAwsS3Setup", unary([integrations](grpc::ClientContext* ctx) {
         gw::CheckAwsS3SetupResponse resp;
         return integrations->CheckAwsS3Setup(ctx, gw::CheckAwsS3SetupRequest(), &resp);
       })},
      {"WatchImport", unary([integrations, read_all](grpc::ClientContext* ctx) {
         return read_all(integrations->WatchImport(ctx, gw::WatchImportRequest()));
       })},
  };
  ASSERT_EQ(methods.size(), 15u) << "every method of the three services";
  for (const auto& [name, call] : methods) {
    for (const std::string& token : {std::string(), std::string("wrong-token")}) {
      grpc::Status s = call(Harness::Ctx(token).get());
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << name << " with token '" << token << "': " << Describe(s);
      EXPECT_TRUE(BadFieldsOf(s).empty()) << name << ": validation ran before authentication";
      ASSERT_TRUE(ErrorInfoOf(s).has_value()) << name;
      EXPECT_EQ(ErrorInfoOf(s)->reason(), "UNAUTHENTICATED") << name;
    }
  }
  // A client may not call a method it was not given, whatever it sends.
  for (const auto& [name, call] : methods) {
    if (name == "GetTask" || name == "ListTasks" || name == "DeleteTask" || name == "WatchTask" ||
        name == "WatchIndexTasks" || name == "UploadVideoFile") {
      continue;  // the reader's own methods
    }
    grpc::Status s = call(Harness::Ctx(kReaderToken).get());
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << name << ": " << Describe(s);
    ASSERT_TRUE(ErrorInfoOf(s).has_value()) << name;
    EXPECT_EQ(ErrorInfoOf(s)->reason(), "METHOD_NOT_ALLOWED") << name;
  }
  EXPECT_TRUE(h_.api().calls().empty()) << "a refused call reached upstream";
}

TEST_F(TaskServiceTest, MethodAndIndexRestrictionsArePermissionDeniedWithTheirReasons) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_READY));
  h_.api().PutTask(MakeTask(kTaskInB, kIndexB, gw::TASK_STATUS_READY));
  auto reason = [](const grpc::Status& s) { return ErrorInfoOf(s) ? ErrorInfoOf(s)->reason() : "(none)"; };

  // A method the client was not given: refused before any upstream call.
  gw::GetIndexTaskCountsRequest counts_req;
  counts_req.set_index_id(kIndexA);
  gw::IndexTaskCounts counts;
  grpc::Status s = h_.tasks()->GetIndexTaskCounts(Harness::Ctx(kReaderToken).get(), counts_req, &counts);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(reason(s), "METHOD_NOT_ALLOWED");
  EXPECT_TRUE(absl::StrContains(s.error_message(), "GetIndexTaskCounts")) << s.error_message();

  // An index the client may not use, named in the request.
  gw::ListTasksRequest list;
  list.set_index_id(kIndexB);
  gw::ListTasksResponse resp;
  s = List(kReaderToken, list, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(reason(s), "INDEX_NOT_ALLOWED");
  auto index_watch = WatchIndex(kReaderToken, kIndexB);
  auto end = index_watch->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(reason(*end), "INDEX_NOT_ALLOWED");
  EXPECT_TRUE(h_.api().calls().empty()) << "a refused call reached upstream";

  // Listing every index is refused to an index-restricted client.
  list.clear_index_id();
  s = List(kReaderToken, list, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "index_id")) << s.error_message();
  list.set_index_id(kIndexA);
  EXPECT_TRUE(List(kReaderToken, list, &resp).ok());

  // A task's index learnt from the upstream's answer is not refused but
  // hidden: see IndexRestrictedClientGetsTheMissingTaskAnswerForATaskInAnotherIndex.
  EXPECT_TRUE(Get(kReaderToken, kTask1).ok());
}

// Everything a caller can see of a status, with `id` (24 characters) masked
// in the message and the details, so the answers for two ids compare.
std::string WholeStatus(const grpc::Status& s, const std::string& id) {
  const std::string mask(24, '#');
  return absl::StrCat(s.error_code(), "|", absl::StrReplaceAll(s.error_message(), {{id, mask}}), "|",
                      absl::StrReplaceAll(s.error_details(), {{id, mask}}));
}

TEST_F(TaskServiceTest, IndexRestrictedClientGetsTheMissingTaskAnswerForATaskInAnotherIndex) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_READY));
  h_.api().PutTask(MakeTask(kTaskInB, kIndexB, gw::TASK_STATUS_READY));
  auto same = [](const char* what, const grpc::Status& other_index, const grpc::Status& missing) {
    EXPECT_EQ(other_index.error_code(), grpc::StatusCode::NOT_FOUND) << what << ": " << Describe(other_index);
    EXPECT_FALSE(missing.error_details().empty()) << what;
    EXPECT_EQ(WholeStatus(other_index, kTaskInB), WholeStatus(missing, kMissingTaskId))
        << what << ": the answers differ, so the task's existence leaks";
  };
  EXPECT_TRUE(Get(kReaderToken, kTask1).ok());
  same("GetTask", Get(kReaderToken, kTaskInB), Get(kReaderToken, kMissingTaskId));
  same("DeleteTask", Delete(kReaderToken, kTaskInB), Delete(kReaderToken, kMissingTaskId));
  EXPECT_EQ(h_.api().count("DeleteTask"), 0) << "the delete went upstream after all";
  EXPECT_TRUE(h_.api().task(kTaskInB).has_value());
  auto other_watch = WatchTask(kReaderToken, kTaskInB);
  auto missing_watch = WatchTask(kReaderToken, kMissingTaskId);
  auto other_end = other_watch->Finish();
  auto missing_end = missing_watch->Finish();
  ASSERT_TRUE(other_end.has_value() && missing_end.has_value());
  same("WatchTask", *other_end, *missing_end);
  EXPECT_FALSE(other_watch->Next(absl::ZeroDuration()).has_value()) << "the task's state leaked before the refusal";
}

// ---- Tenant isolation ----------------------------------------------------------

TEST_F(TaskServiceTest, AnotherTenantsTaskIsNotFoundExactlyLikeAMissingOne) {
  std::string mine = Create(kMediaToken);
  ASSERT_FALSE(mine.empty());
  ASSERT_TRUE(Get(kMediaToken, mine).ok());
  const size_t calls_before = h_.api().calls().size();

  auto same = [&](const grpc::Status& theirs, const grpc::Status& missing) {
    EXPECT_EQ(theirs.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(theirs);
    EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(missing);
    EXPECT_EQ(absl::StrReplaceAll(theirs.error_message(), {{mine, "ID"}}),
              absl::StrReplaceAll(missing.error_message(), {{kMissingTaskId, "ID"}}));
    ASSERT_TRUE(ErrorInfoOf(theirs).has_value());
    ASSERT_TRUE(ErrorInfoOf(missing).has_value());
    EXPECT_EQ(ErrorInfoOf(theirs)->reason(), ErrorInfoOf(missing)->reason());
    EXPECT_EQ(ErrorInfoOf(theirs)->domain(), ErrorInfoOf(missing)->domain());
  };
  same(Get(kNewsToken, mine), Get(kNewsToken, kMissingTaskId));
  same(Delete(kNewsToken, mine), Delete(kNewsToken, kMissingTaskId));
  auto theirs_watch = WatchTask(kNewsToken, mine);
  auto missing_watch = WatchTask(kNewsToken, kMissingTaskId);
  auto theirs_end = theirs_watch->Finish();
  auto missing_end = missing_watch->Finish();
  ASSERT_TRUE(theirs_end.has_value() && missing_end.has_value());
  same(*theirs_end, *missing_end);
  EXPECT_FALSE(theirs_watch->Next(absl::ZeroDuration()).has_value());

  // The other tenant's calls on the owned task never reached upstream; the
  // task is still there for its owner.
  auto calls = h_.api().calls();
  ASSERT_GT(calls.size(), calls_before);  // the missing task's calls did
  for (size_t i = calls_before; i < calls.size(); ++i) {
    EXPECT_NE(calls[i].id, mine) << calls[i].method << " with the other tenant's task reached upstream";
  }
  EXPECT_TRUE(Get(kMediaToken, mine).ok());
  EXPECT_TRUE(h_.api().task(mine).has_value());
}

class SharedKeyTaskServiceTest : public TaskServiceTest {
 protected:
  static GatewayConfig SharedKey() {
    GatewayConfig c = DefaultConfig();
    c.tenants[1].resolved_keys = {kMediaKey};  // news uses media's upstream key
    for (auto& t : c.tenants) t.sole_user_of_account = false;  // as the config would require
    return c;
  }
  SharedKeyTaskServiceTest() : TaskServiceTest(SharedKey()) {}
};

TEST_F(SharedKeyTaskServiceTest, ListsAndIndexWatchesShowOnlyTheCallersOwnTasks) {
  std::string media = Create(kMediaToken);
  std::string news = Create(kNewsToken);
  h_.api().PutTask(MakeTask(kTask3, kIndexA, gw::TASK_STATUS_READY));  // made outside the gateway
  EXPECT_EQ(h_.api().calls().front().opts.api_key, kMediaKey);

  gw::ListTasksRequest req;
  req.set_index_id(kIndexA);
  gw::ListTasksResponse resp;
  ASSERT_TRUE(List(kNewsToken, req, &resp).ok());
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_EQ(resp.tasks(0).id(), news);
  ASSERT_TRUE(List(kMediaToken, req, &resp).ok());
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_EQ(resp.tasks(0).id(), media);
  // With a shared key, a task nobody recorded is nobody's.
  EXPECT_EQ(Get(kMediaToken, kTask3).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get(kNewsToken, media).error_code(), grpc::StatusCode::NOT_FOUND);

  auto watch = WatchIndex(kNewsToken, kIndexA);
  auto first = watch->Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->task().id(), news);
  SetStatus(media, gw::TASK_STATUS_READY, 1767229000);
  SetStatus(news, gw::TASK_STATUS_READY, 1767229001);
  h_.clock().Advance(absl::Seconds(60));
  auto next = watch->Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->task().id(), news);
  EXPECT_EQ(next->task().status(), gw::TASK_STATUS_READY);
  EXPECT_EQ(watch->unread(), 0u) << "another tenant's task reached the stream";
}

// Two tenants with different keys of one account: the fake holds both
// tenants' tasks and tasks made outside the gateway, and shows them all to
// either key, as the real API would. Neither tenant is declared the sole
// user of its account.
class IsolatedTaskServiceTest : public TaskServiceTest {
 protected:
  IsolatedTaskServiceTest() : TaskServiceTest(IsolatedConfig()) {}

  // A task upstream in `index_id`, updated at `updated`, recorded as
  // `owner`'s ("" = made outside the gateway, no record).
  void Put(const std::string& id, const std::string& owner, int64_t updated,
           const std::string& index_id = kIndexA) {
    h_.api().PutTask(MakeTask(id, index_id, gw::TASK_STATUS_INDEXING, updated));
    if (!owner.empty()) {
      ASSERT_TRUE(h_.store().RecordOwner(id, owner).ok());
    }
  }
  static std::string Id(int i) { return absl::StrCat("c", absl::StrFormat("%023x", i)); }
  // Every page of a listing of kIndexA, newest first.
  std::vector<gw::ListTasksResponse> ListAll(const std::string& token, int page_size) {
    std::vector<gw::ListTasksResponse> pages;
    gw::ListTasksRequest req;
    req.set_index_id(kIndexA);
    req.set_page_size(page_size);
    do {
      gw::ListTasksResponse resp;
      grpc::Status s = List(token, req, &resp);
      EXPECT_TRUE(s.ok()) << Describe(s);
      if (!s.ok()) break;
      pages.push_back(resp);
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty() && pages.size() < 100);
    return pages;
  }
};

TEST_F(IsolatedTaskServiceTest, ListTasksShowsOnlyTheCallersOwnTasksUnderDifferentKeysOfOneAccount) {
  Put(kTask1, "media", 1767225601);
  Put(kTask2, "news", 1767225602);
  Put(kTask3, "", 1767225603);  // made outside the gateway
  gw::ListTasksRequest req;
  req.set_index_id(kIndexA);
  gw::ListTasksResponse resp;
  ASSERT_TRUE(List(kMediaToken, req, &resp).ok());
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_EQ(resp.tasks(0).id(), kTask1);
  EXPECT_EQ(resp.total_size(), 0) << "the upstream count (3) leaked";
  EXPECT_TRUE(resp.next_page_token().empty());
  EXPECT_EQ(h_.api().calls().back().opts.api_key, kMediaKey);
  ASSERT_TRUE(List(kNewsToken, req, &resp).ok());
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_EQ(resp.tasks(0).id(), kTask2);
  EXPECT_EQ(resp.total_size(), 0);
  EXPECT_EQ(h_.api().calls().back().opts.api_key, kNewsKey);
  // Without an index filter too.
  ASSERT_TRUE(List(kNewsToken, gw::ListTasksRequest(), &resp).ok());
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_EQ(resp.tasks(0).id(), kTask2);
}

TEST_F(IsolatedTaskServiceTest, ListTasksPagesThroughOwnTasksAmongManyOthersWithoutSkipsRepeatsOrEmptyPages) {
  // 130 tasks newest first: every 13th is media's, every 7th news's, the
  // rest made outside the gateway; media's are spread over upstream pages.
  std::vector<std::string> mine;
  for (int i = 0; i < 130; ++i) {
    std::string owner = i % 13 == 5 ? "media" : i % 7 == 0 ? "news" : "";
    Put(Id(i), owner, 1767300000 - i);
    if (owner == "media") mine.push_back(Id(i));
  }
  ASSERT_EQ(mine.size(), 10u);
  for (int page_size : {1, 3, 4, 10, 50}) {
    auto pages = ListAll(kMediaToken, page_size);
    std::vector<std::string> seen;
    for (size_t p = 0; p < pages.size(); ++p) {
      EXPECT_GT(pages[p].tasks_size(), 0) << "page size " << page_size << ": page " << p << " is empty";
      EXPECT_LE(pages[p].tasks_size(), page_size);
      EXPECT_EQ(pages[p].total_size(), 0);
      for (const auto& t : pages[p].tasks()) seen.push_back(t.id());
    }
    EXPECT_EQ(seen, mine) << "page size " << page_size << ": tasks skipped, repeated, out of order or not media's";
    if (page_size >= 10) {
      EXPECT_EQ(pages.size(), 1u) << "page size " << page_size;
    }
  }
}

TEST_F(IsolatedTaskServiceTest, WatchIndexTasksSendsOnlyOwnTasksInSnapshotChangesAndResume) {
  Put(kTask1, "media", 1767225601);
  Put(kTask2, "news", 1767225602);
  Put(kTask3, "", 1767225603);
  int64_t last = 0;
  {
    auto watch = WatchIndex(kNewsToken, kIndexA);
    auto snapshot = watch->Next();
    ASSERT_TRUE(snapshot.has_value());
    EXPECT_EQ(snapshot->task().id(), kTask2);
    EXPECT_EQ(watch->Next(absl::Milliseconds(50)), std::nullopt) << "another tenant's or an unrecorded task was sent";
    EXPECT_EQ(h_.api().calls().back().opts.api_key, kNewsKey);
    // Later changes: only news's.
    SetStatus(kTask1, gw::TASK_STATUS_READY, 1767229000);
    SetStatus(kTask3, gw::TASK_STATUS_READY, 1767229001);
    SetStatus(kTask2, gw::TASK_STATUS_READY, 1767229002);
    Put(kTaskInB, "", 1767229003);  // a new unrecorded task of the index
    h_.clock().Advance(absl::Seconds(60));
    auto next = watch->Next();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->task().id(), kTask2);
    EXPECT_EQ(next->task().status(), gw::TASK_STATUS_READY);
    EXPECT_EQ(watch->Next(absl::Milliseconds(50)), std::nullopt) << "another tenant's or an unrecorded task was sent";
    last = next->sequence();
    watch->Cancel();
    ASSERT_TRUE(watch->Finish().has_value());
  }
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.index_watches(), 0));
  // Changes while nobody watched, then a resume: still only news's.
  SetStatus(kTask1, gw::TASK_STATUS_FAILED, 1767229100);
  SetStatus(kTask3, gw::TASK_STATUS_FAILED, 1767229101);
  SetStatus(kTask2, gw::TASK_STATUS_FAILED, 1767229102);
  auto watch = WatchIndex(kNewsToken, kIndexA, last);
  auto missed = watch->Next();
  ASSERT_TRUE(missed.has_value());
  EXPECT_EQ(missed->task().id(), kTask2);
  EXPECT_EQ(missed->task().status(), gw::TASK_STATUS_FAILED);
  EXPECT_EQ(watch->Next(absl::Milliseconds(50)), std::nullopt) << "another tenant's or an unrecorded task was sent";
}

TEST_F(IsolatedTaskServiceTest, IndexCountsAreRefusedWithHowToDeclareTheSoleUser) {
  gw::IndexTaskCounts counts;
  counts.set_index_id(kIndexA);
  counts.set_total(3);
  h_.api().SetIndexCounts(counts);
  gw::GetIndexTaskCountsRequest req;
  req.set_index_id(kIndexA);
  gw::IndexTaskCounts got;
  grpc::Status s = h_.tasks()->GetIndexTaskCounts(Harness::Ctx(kMediaToken).get(), req, &got);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "\"sole_user_of_account\": true")) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "'media'")) << s.error_message();
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "TENANT_NOT_SOLE_USER");
  EXPECT_EQ(ErrorInfoOf(s)->domain(), kGatewayDomain);
  EXPECT_EQ(got.total(), 0);
  EXPECT_EQ(h_.api().count("GetIndexTaskCounts"), 0) << "the account's counts were read";
}

TEST_F(IsolatedTaskServiceTest, TheOtherTenantsAndUnrecordedTasksAreNotFoundLikeMissingOnes) {
  Put(kTask1, "media", 1767225601);
  Put(kTask3, "", 1767225603);
  for (const std::string& hidden : {std::string(kTask1), std::string(kTask3)}) {
    SCOPED_TRACE(hidden);
    auto same = [&](const grpc::Status& theirs, const grpc::Status& missing) {
      EXPECT_EQ(theirs.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(theirs);
      EXPECT_EQ(WholeStatus(theirs, hidden), WholeStatus(missing, kMissingTaskId));
    };
    same(Get(kNewsToken, hidden), Get(kNewsToken, kMissingTaskId));
    same(Delete(kNewsToken, hidden), Delete(kNewsToken, kMissingTaskId));
    auto theirs_watch = WatchTask(kNewsToken, hidden);
    auto missing_watch = WatchTask(kNewsToken, kMissingTaskId);
    auto theirs_end = theirs_watch->Finish();
    auto missing_end = missing_watch->Finish();
    ASSERT_TRUE(theirs_end.has_value() && missing_end.has_value());
    same(*theirs_end, *missing_end);
    EXPECT_FALSE(theirs_watch->Next(absl::ZeroDuration()).has_value());
  }
  for (const auto& call : h_.api().calls()) {
    EXPECT_TRUE(call.id != kTask1 && call.id != kTask3) << call.method << " of a hidden task reached upstream";
  }
  EXPECT_TRUE(h_.api().task(kTask1).has_value());
  EXPECT_TRUE(h_.api().task(kTask3).has_value());
  // The owner still has its task; an unrecorded one is nobody's.
  EXPECT_TRUE(Get(kMediaToken, kTask1).ok());
  EXPECT_EQ(Get(kMediaToken, kTask3).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(IsolatedTaskServiceTest, DeclaringASoleUserByReloadShowsItUnrecordedTasksButNeverAnotherTenants) {
  Put(kTask1, "media", 1767225601);
  Put(kTask2, "news", 1767225602);
  Put(kTask3, "", 1767225603);
  auto watch = WatchIndex(kMediaToken, kIndexA);
  auto first = watch->Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->task().id(), kTask1);

  GatewayConfig config = IsolatedConfig();
  config.tenants[0].sole_user_of_account = true;  // media
  auto changes = h_.Reload(config);
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_TRUE(absl::StrContains(*changes, "tenant media declared sole user")) << *changes;

  gw::ListTasksRequest req;
  req.set_index_id(kIndexA);
  gw::ListTasksResponse resp;
  ASSERT_TRUE(List(kMediaToken, req, &resp).ok());
  std::set<std::string> ids;
  for (const auto& t : resp.tasks()) ids.insert(t.id());
  EXPECT_EQ(ids, (std::set<std::string>{kTask1, kTask3})) << "news's task must stay hidden";
  EXPECT_EQ(resp.total_size(), 3) << "a sole user gets its account's count";
  EXPECT_TRUE(Get(kMediaToken, kTask3).ok());
  EXPECT_EQ(Get(kMediaToken, kTask2).error_code(), grpc::StatusCode::NOT_FOUND);
  gw::IndexTaskCounts counts;
  counts.set_index_id(kIndexA);
  counts.set_total(3);
  h_.api().SetIndexCounts(counts);
  gw::GetIndexTaskCountsRequest creq;
  creq.set_index_id(kIndexA);
  gw::IndexTaskCounts got;
  grpc::Status s = h_.tasks()->GetIndexTaskCounts(Harness::Ctx(kMediaToken).get(), creq, &got);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(got.total(), 3);
  // news is not declared: unchanged.
  EXPECT_EQ(Get(kNewsToken, kTask3).error_code(), grpc::StatusCode::NOT_FOUND);
  s = h_.tasks()->GetIndexTaskCounts(Harness::Ctx(kNewsToken).get(), creq, &got);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);

  // The open stream follows the reload: the unrecorded task's next change
  // is sent, news's is not.
  SetStatus(kTask2, gw::TASK_STATUS_READY, 1767229000);
  SetStatus(kTask3, gw::TASK_STATUS_READY, 1767229001);
  h_.clock().Advance(absl::Seconds(60));
  auto next = watch->Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->task().id(), kTask3);
  EXPECT_EQ(watch->Next(absl::Milliseconds(50)), std::nullopt) << "news's task reached media's stream";
}

// Open single-key mode: one tenant, one key, loopback. It counts as the
// sole user of its account.
TEST(OpenModeTaskService, TheDefaultTenantIsTheSoleUserOfItsAccount) {
  GatewayConfig config;
  config.tenants = {DefaultConfig().tenants[0]};
  config.tenants[0].sole_user_of_account = false;  // open mode needs no declaration
  ServiceHarness h(config);
  h.api().PutTask(MakeTask(kTask3, kIndexA, gw::TASK_STATUS_READY));  // made outside the gateway
  gw::ListTasksRequest req;
  req.set_index_id(kIndexA);
  gw::ListTasksResponse resp;
  grpc::Status s = h.tasks()->ListTasks(ServiceHarness::Ctx("").get(), req, &resp);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_EQ(resp.total_size(), 1);
  gw::GetTaskRequest get;
  get.set_task_id(kTask3);
  gw::Task task;
  s = h.tasks()->GetTask(ServiceHarness::Ctx("").get(), get, &task);
  EXPECT_TRUE(s.ok()) << Describe(s);
  gw::IndexTaskCounts counts;
  counts.set_index_id(kIndexA);
  counts.set_total(1);
  h.api().SetIndexCounts(counts);
  gw::GetIndexTaskCountsRequest creq;
  creq.set_index_id(kIndexA);
  s = h.tasks()->GetIndexTaskCounts(ServiceHarness::Ctx("").get(), creq, &counts);
  EXPECT_TRUE(s.ok()) << Describe(s);
}

// ---- Upstream errors -----------------------------------------------------------

TEST_F(TaskServiceTest, UpstreamErrorsReachTheCallerWithTheirDetails) {
  std::string id = Create(kMediaToken);
  h_.api().FailNext("DeleteTask", WithErrorInfo(absl::FailedPreconditionError("the task is still indexing"),
                                                "TASK_CANNOT_BE_DELETED", kUpstreamDomain));
  grpc::Status s = Delete(kMediaToken, id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "still indexing")) << s.error_message();
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "TASK_CANNOT_BE_DELETED");
  EXPECT_EQ(ErrorInfoOf(s)->domain(), kUpstreamDomain);

  h_.api().FailNext("GetTask", WithRetryDelay(WithErrorInfo(absl::ResourceExhaustedError("slow down"),
                                                            "TOO_MANY_REQUESTS", kUpstreamDomain),
                                              absl::Seconds(7)));
  s = Get(kMediaToken, id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(s);
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "TOO_MANY_REQUESTS");
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  EXPECT_EQ(*RetryDelayOf(s), absl::Seconds(7));

  h_.api().FailNext("ListTasks", absl::UnavailableError("upstream is down"));
  gw::ListTasksRequest list;
  list.set_index_id(kIndexA);
  gw::ListTasksResponse resp;
  s = List(kMediaToken, list, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);

  // However upstream words a missing task, the caller gets the one answer.
  h_.api().FailNext("GetTask", WithErrorInfo(absl::NotFoundError("no such video task, sorry"), "whatever",
                                             kUpstreamDomain));
  s = Get(kMediaToken, kMissingTaskId);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), absl::StrCat("task ", kMissingTaskId, " was not found"));
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "RESOURCE_NOT_EXIST");
}

// ---- Rate limits ---------------------------------------------------------------

TEST_F(TaskServiceTest, RateLimitIsResourceExhaustedWithRetryInfoUntilTimePasses) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_READY));
  EXPECT_TRUE(Get(kLimitedToken, kTask1).ok());  // burst of 2
  EXPECT_TRUE(Get(kLimitedToken, kTask1).ok());
  grpc::Status s = Get(kLimitedToken, kTask1);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(s);
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "CLIENT_RATE_LIMITED");
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  EXPECT_GT(*RetryDelayOf(s), absl::ZeroDuration());
  EXPECT_LE(*RetryDelayOf(s), absl::Seconds(1));
  EXPECT_EQ(h_.api().count("GetTask"), 2) << "a limited call reached upstream";
  // Other clients are not affected.
  EXPECT_TRUE(Get(kNewsToken, kTask1).ok());
  // Time refills the bucket: one call per second.
  h_.clock().Advance(*RetryDelayOf(s));
  EXPECT_TRUE(Get(kLimitedToken, kTask1).ok());
  EXPECT_EQ(Get(kLimitedToken, kTask1).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  h_.clock().Advance(absl::Seconds(10));
  EXPECT_TRUE(Get(kLimitedToken, kTask1).ok());
  EXPECT_TRUE(Get(kLimitedToken, kTask1).ok());
  EXPECT_EQ(Get(kLimitedToken, kTask1).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << "the burst is capped at 2";
}

// ---- WatchTask ---------------------------------------------------------------

TEST_F(TaskServiceTest, WatchTaskSendsASnapshotThenEachChangeThenEndsOkAfterTheTerminalOne) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_PENDING, 1767225600));
  auto watch = WatchTask(kMediaToken, kTask1);
  auto snapshot = watch->Next();
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->source(), gw::EVENT_SOURCE_SNAPSHOT);
  EXPECT_EQ(snapshot->task().status(), gw::TASK_STATUS_PENDING);
  EXPECT_GT(snapshot->sequence(), 0);
  EXPECT_EQ(h_.api().calls().back().opts.api_key, kMediaKey);

  // No change: a poll sends nothing.
  h_.clock().Advance(absl::Seconds(60));
  EXPECT_FALSE(watch->Next(absl::Milliseconds(50)).has_value());
  const int polls = h_.api().count("GetTask");
  EXPECT_GT(polls, 1) << "the watch did not poll";

  SetStatus(kTask1, gw::TASK_STATUS_INDEXING, 1767225700);
  h_.clock().Advance(absl::Seconds(60));
  auto indexing = watch->Next();
  ASSERT_TRUE(indexing.has_value());
  EXPECT_EQ(indexing->source(), gw::EVENT_SOURCE_POLL);
  EXPECT_EQ(indexing->task().status(), gw::TASK_STATUS_INDEXING);
  EXPECT_GT(indexing->sequence(), snapshot->sequence());

  SetStatus(kTask1, gw::TASK_STATUS_READY, 1767225800);
  h_.clock().Advance(absl::Seconds(60));
  auto ready = watch->Next();
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->task().status(), gw::TASK_STATUS_READY);
  EXPECT_GT(ready->sequence(), indexing->sequence());
  auto end = watch->Finish();
  ASSERT_TRUE(end.has_value()) << "the stream did not end after the terminal event";
  EXPECT_TRUE(end->ok()) << Describe(*end);

  // The entry is gone and polls no more.
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.task_watches(), 0));
  const int after = h_.api().count("GetTask");
  h_.clock().Advance(absl::Minutes(5));
  EXPECT_EQ(h_.api().count("GetTask"), after);
}

TEST_F(TaskServiceTest, WatchTaskResumedAfterItsLastEventSendsOnlyNewChanges) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_INDEXING, 1767225600));
  int64_t last;
  {
    auto watch = WatchTask(kMediaToken, kTask1);
    auto snapshot = watch->Next();
    ASSERT_TRUE(snapshot.has_value());
    last = snapshot->sequence();
    watch->Cancel();
    auto end = watch->Finish();
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.task_watches(), 0));
  EXPECT_EQ(h_.task_watches().stats().entries, 0);

  auto watch = WatchTask(kMediaToken, kTask1, last);
  SetStatus(kTask1, gw::TASK_STATUS_READY, 1767225900);
  h_.clock().Advance(absl::Seconds(60));
  auto next = watch->Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->task().status(), gw::TASK_STATUS_READY) << "the state seen before the reconnect was re-sent";
  EXPECT_GT(next->sequence(), last);
  auto end = watch->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->ok()) << Describe(*end);

  // Resuming after the terminal event: nothing to send, the stream ends OK.
  auto again = WatchTask(kMediaToken, kTask1, next->sequence());
  end = again->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->ok()) << Describe(*end);
  EXPECT_FALSE(again->Next(absl::ZeroDuration()).has_value());
}

TEST_F(TaskServiceTest, WatchTaskOfAMissingTaskIsNotFoundAtOnce) {
  auto watch = WatchTask(kMediaToken, kMissingTaskId);
  auto end = watch->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::NOT_FOUND) << Describe(*end);
  EXPECT_EQ(end->error_message(), absl::StrCat("task ", kMissingTaskId, " was not found"));
  EXPECT_EQ(h_.task_watches().stats().entries, 0);
}

TEST_F(TaskServiceTest, WatchTaskEndsUnauthenticatedWhenItsClientIsRevoked) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_INDEXING));
  auto watch = WatchTask(kMediaToken, kTask1);
  auto other = WatchTask(kNewsToken, kTask1);
  ASSERT_TRUE(watch->Next().has_value());
  ASSERT_TRUE(other->Next().has_value());
  GatewayConfig config = DefaultConfig();
  config.clients.erase(config.clients.begin());  // media-svc
  ASSERT_TRUE(h_.Reload(config).ok());
  auto end = watch->Finish();
  ASSERT_TRUE(end.has_value()) << "the revoked client's stream is still open";
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(*end);
  EXPECT_FALSE(other->Finish(absl::Milliseconds(50)).has_value()) << "another client's stream was ended";
  EXPECT_EQ(Get(kMediaToken, kTask1).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// ---- WatchIndexTasks -------------------------------------------------------------

TEST_F(TaskServiceTest, WatchIndexTasksFiltersByStatusAndFollowsChanges) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_PENDING, 1767225601));
  h_.api().PutTask(MakeTask(kTask2, kIndexA, gw::TASK_STATUS_READY, 1767225602));
  h_.api().PutTask(MakeTask(kTaskInB, kIndexB, gw::TASK_STATUS_READY, 1767225603));
  auto watch = WatchIndex(kMediaToken, kIndexA, 0, {gw::TASK_STATUS_READY});
  auto first = watch->Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->task().id(), kTask2);
  EXPECT_EQ(first->source(), gw::EVENT_SOURCE_SNAPSHOT);
  auto call = h_.api().calls().back();
  EXPECT_EQ(call.method, "ListTasks");
  EXPECT_EQ(call.index_id, kIndexA);
  EXPECT_EQ(call.opts.api_key, kMediaKey);

  SetStatus(kTask1, gw::TASK_STATUS_INDEXING, 1767226000);  // filtered out
  h_.clock().Advance(absl::Seconds(30));
  SetStatus(kTask1, gw::TASK_STATUS_READY, 1767226100);
  h_.clock().Advance(absl::Seconds(30));
  auto ready = watch->Next();
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->task().id(), kTask1);
  EXPECT_EQ(ready->task().status(), gw::TASK_STATUS_READY);
  EXPECT_GT(ready->sequence(), first->sequence());
  EXPECT_EQ(watch->unread(), 0u);

  // A new task of the index appears too; an index watch never ends by itself.
  h_.api().PutTask(MakeTask(kTask3, kIndexA, gw::TASK_STATUS_READY, 1767226200));
  h_.clock().Advance(absl::Seconds(30));
  auto added = watch->Next();
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->task().id(), kTask3);
  EXPECT_FALSE(watch->Finish(absl::Milliseconds(50)).has_value());
}

// Drift (issue 10): "WatchIndexTasks resumed after its last subscriber left
// may re-send every task of the index".
TEST_F(TaskServiceTest, WatchIndexTasksResumedAfterTheLastSubscriberLeftResendsNothingSeen) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_INDEXING, 1767225601));
  h_.api().PutTask(MakeTask(kTask2, kIndexA, gw::TASK_STATUS_READY, 1767225602));
  h_.api().PutTask(MakeTask(kTask3, kIndexA, gw::TASK_STATUS_PENDING, 1767225603));
  int64_t last = 0;
  {
    auto watch = WatchIndex(kMediaToken, kIndexA);
    std::set<std::string> seen;
    for (int i = 0; i < 3; ++i) {
      auto e = watch->Next();
      ASSERT_TRUE(e.has_value()) << "event " << i;
      seen.insert(e->task().id());
      EXPECT_GT(e->sequence(), last) << "sequences increase";
      last = e->sequence();
    }
    EXPECT_EQ(seen.size(), 3u);
    SetStatus(kTask1, gw::TASK_STATUS_READY, 1767225700);
    h_.clock().Advance(absl::Seconds(30));
    auto e = watch->Next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->task().id(), kTask1);
    last = e->sequence();
    watch->Cancel();
    ASSERT_TRUE(watch->Finish().has_value());
  }
  // The last subscriber has left: the entry is gone, only its tombstone is left.
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.index_watches(), 0));
  EXPECT_EQ(h_.index_watches().stats().entries, 0);
  // A change while nobody watched.
  SetStatus(kTask3, gw::TASK_STATUS_INDEXING, 1767225800);
  h_.clock().Advance(absl::Seconds(5));

  auto watch = WatchIndex(kMediaToken, kIndexA, last);
  auto missed = watch->Next();
  ASSERT_TRUE(missed.has_value()) << "the change made while disconnected was not sent";
  EXPECT_EQ(missed->task().id(), kTask3) << "a task already seen was re-sent: " << missed->DebugString();
  EXPECT_EQ(missed->task().status(), gw::TASK_STATUS_INDEXING);
  EXPECT_GT(missed->sequence(), last);
  // Then only new changes: the next event must be the new one, nothing older.
  SetStatus(kTask2, gw::TASK_STATUS_FAILED, 1767225900);
  h_.clock().Advance(absl::Seconds(30));
  auto changed = watch->Next();
  ASSERT_TRUE(changed.has_value());
  EXPECT_EQ(changed->task().id(), kTask2) << "a task already seen was re-sent: " << changed->DebugString();
  EXPECT_EQ(changed->task().status(), gw::TASK_STATUS_FAILED);
  EXPECT_GT(changed->sequence(), missed->sequence());
  EXPECT_EQ(watch->unread(), 0u);
}

// Shutdown ending the stream of a reader that fell behind: the states it
// never got (held unsent by the stream, one being written) must come on a
// reconnect with the resume_after the end gives, and what it got must not
// come twice. (The end once named the newest state the stream had taken
// in, sent or not.)
TEST_F(TaskServiceTest, WatchIndexTasksEndedByShutdownResumesWithEveryStateASlowReaderDidNotGet) {
  h_.api().PutTask(MakeTask(kTask1, kIndexA, gw::TASK_STATUS_READY, 1767225601));
  // A client of its own that stops reading: without BDP probing its stream
  // window stays at 64 KiB, so the server's writes back up once it is full.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stub = gw::TaskService::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", h_.port()), grpc::InsecureChannelCredentials(), args));
  auto ctx = Harness::Ctx(kMediaToken, absl::Seconds(30));
  gw::WatchIndexTasksRequest req;
  req.set_index_id(kIndexA);
  auto stream = stub->WatchIndexTasks(ctx.get(), req);
  gw::TaskEvent event;
  ASSERT_TRUE(stream->Read(&event)) << "no snapshot";  // the stream is subscribed
  std::map<std::string, int64_t> received = {{event.task().id(), event.sequence()}};

  // One poll finds 40 new tasks of 100 KiB each: 4 MiB of events, handed
  // to the stream before Advance() returns, while nobody reads.
  std::set<std::string> added;
  for (int i = 0; i < 40; ++i) {
    gw::Task t = MakeTask(absl::StrFormat("b%023x", i), kIndexA, gw::TASK_STATUS_INDEXING, 1767226000 + i);
    t.mutable_system_metadata()->set_filename(std::string(100 * 1024, 'f'));
    h_.api().PutTask(t);
    added.insert(t.id());
  }
  h_.clock().Advance(absl::Seconds(30));
  h_.EndStreams();  // the gateway shuts down

  while (stream->Read(&event)) {
    EXPECT_FALSE(received.count(event.task().id())) << "sent twice: " << event.task().id();
    received[event.task().id()] = event.sequence();
  }
  const grpc::Status ended = stream->Finish();
  ASSERT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(ended);
  const auto info = ErrorInfoOf(ended);
  ASSERT_TRUE(info.has_value()) << Describe(ended);
  EXPECT_EQ(info->reason(), "GATEWAY_SHUTTING_DOWN");
  int64_t resume_after = -1;
  ASSERT_TRUE(info->metadata().count("resume_after")) << Describe(ended);
  ASSERT_TRUE(absl::SimpleAtoi(info->metadata().at("resume_after"), &resume_after));
  std::set<std::string> missing;
  for (const auto& id : added) {
    if (!received.count(id)) missing.insert(id);
  }
  ASSERT_FALSE(missing.empty()) << "every state was sent before the end: the writes did not back up";
  for (const auto& [id, sequence] : received) {
    EXPECT_LE(sequence, resume_after) << id << " was received yet would come again";
  }

  auto resumed = WatchIndex(kMediaToken, kIndexA, resume_after);
  std::set<std::string> brought;
  while (brought.size() < missing.size()) {
    auto next = resumed->Next();
    ASSERT_TRUE(next.has_value()) << missing.size() - brought.size() << " of " << missing.size()
                                  << " states the client never got were lost (resume_after=" << resume_after
                                  << ")";
    EXPECT_TRUE(missing.count(next->task().id())) << "sent twice: " << next->task().id();
    EXPECT_GT(next->sequence(), resume_after);
    brought.insert(next->task().id());
  }
  EXPECT_EQ(brought, missing);
}

}  // namespace
}  // namespace tlgw::testing

namespace tlgw::testing {
namespace {

// A shared state store that cannot answer: tenants that need an owner
// lookup get UNAVAILABLE with RetryInfo, never NOT_FOUND (which would tell
// a client its task is gone) and never the task (on a guess).
TEST_F(IsolatedTaskServiceTest, OwnerLookupsFailUnavailableWhileTheStateStoreIsDown) {
  Put(kTask1, "media", 1767225601);
  h_.SetStateStoreDown(true);
  gw::Task task;
  grpc::Status get = h_.tasks()->GetTask(Harness::Ctx(kMediaToken).get(), [] {
    gw::GetTaskRequest r;
    r.set_task_id(kTask1);
    return r;
  }(), &task);
  EXPECT_EQ(get.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(get);
  ASSERT_TRUE(ErrorInfoOf(get).has_value());
  EXPECT_EQ(ErrorInfoOf(get)->reason(), "STATE_STORE_UNAVAILABLE");
  EXPECT_TRUE(RetryDelayOf(get).has_value());
  gw::ListTasksRequest list;
  list.set_index_id(kIndexA);
  gw::ListTasksResponse resp;
  grpc::Status listed = List(kMediaToken, list, &resp);
  EXPECT_EQ(listed.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(listed);
  EXPECT_EQ(h_.api().count("GetTask"), 0) << "no upstream read for an answer that cannot be given";
  h_.SetStateStoreDown(false);
  grpc::Status again = h_.tasks()->GetTask(Harness::Ctx(kMediaToken).get(), [] {
    gw::GetTaskRequest r;
    r.set_task_id(kTask1);
    return r;
  }(), &task);
  EXPECT_TRUE(again.ok()) << Describe(again);
}

// WatchIndexTasks for a tenant that needs owner lookups, with the store
// down when a change comes: the change is neither shown on a guess nor
// dropped. The stream ends UNAVAILABLE (STATE_STORE_UNAVAILABLE, RetryInfo)
// with the resume_after that brings the change once the store answers.
TEST_F(IsolatedTaskServiceTest, WatchIndexTasksEndsResumablyInsteadOfDroppingAChangeWhileTheStoreIsDown) {
  Put(kTask2, "news", 1767225602);
  auto watch = WatchIndex(kNewsToken, kIndexA);
  auto snapshot = watch->Next();
  ASSERT_TRUE(snapshot.has_value());
  ASSERT_EQ(snapshot->task().id(), kTask2);
  h_.SetStateStoreDown(true);
  SetStatus(kTask2, gw::TASK_STATUS_READY, 1767229002);
  h_.clock().Advance(absl::Seconds(60));
  auto ended = watch->Finish();
  ASSERT_TRUE(ended.has_value()) << "the stream stayed open: the change was dropped";
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(*ended);
  ASSERT_TRUE(ErrorInfoOf(*ended).has_value());
  EXPECT_EQ(ErrorInfoOf(*ended)->reason(), "STATE_STORE_UNAVAILABLE");
  EXPECT_TRUE(RetryDelayOf(*ended).has_value());
  const auto info = ErrorInfoOf(*ended);
  ASSERT_TRUE(info->metadata().count("resume_after")) << Describe(*ended);
  int64_t resume_after = -1;
  ASSERT_TRUE(absl::SimpleAtoi(info->metadata().at("resume_after"), &resume_after));
  EXPECT_GE(resume_after, snapshot->sequence()) << "the snapshot would come again";
  h_.SetStateStoreDown(false);
  ASSERT_TRUE(Harness::AwaitSubscribers(h_.index_watches(), 0));
  auto resumed = WatchIndex(kNewsToken, kIndexA, resume_after);
  auto change = resumed->Next();
  ASSERT_TRUE(change.has_value()) << "the change was lost";
  EXPECT_EQ(change->task().id(), kTask2);
  EXPECT_EQ(change->task().status(), gw::TASK_STATUS_READY);
}

}  // namespace
}  // namespace tlgw::testing
