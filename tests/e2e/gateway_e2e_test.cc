// The real gateway in front of the real simulator, both as processes on
// loopback, called through generated gRPC stubs. Each test asserts the
// gRPC answer and the exact REST request the simulator received.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "tests/e2e/harness.h"
#include "tests/support/grpc_details.h"
#include "health.grpc.pb.h"
#include "twelvelabs/gateway/v1/integration_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using nlohmann::json;

constexpr char kConfig[] = R"({"integrations":[
  {"name":"marketing","integration_id":"0123456789abcdef89abcdef","bucket":"acme-videos","region":"us-west-2"}]})";

using ::tlgw::ErrorInfoOf;
using ::tlgw::RetryDelayOf;

std::string Describe(const grpc::Status& s) {
  return absl::StrCat(s.error_code(), ": ", s.error_message());
}

class GatewayE2E : public E2EFixture<::testing::TestWithParam<std::string>> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    StartGatewayProcess();
  }

  void StartGatewayProcess(std::string state_db = ":memory:") {
    GatewayArgs args;
    args.upstream_url = sim_.Url(GetParam());
    args.config_json = kConfig;
    args.state_db = state_db;
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    upload_ = gw::UploadService::NewStub(gateway_.channel);
    tasks_ = gw::TaskService::NewStub(gateway_.channel);
    integrations_ = gw::IntegrationService::NewStub(gateway_.channel);
  }

  void TearDown() override {
    if (gateway_.process == nullptr) return;
    // Whatever happened, the key must never appear in the gateway's output.
    std::string log = gateway_.process->Log();
    EXPECT_FALSE(absl::StrContains(log, kTestApiKey)) << "API key leaked into the gateway log";
    int status = gateway_.process->Stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "gateway exit status " << status << "\n" << log;
  }

  bool v12() const { return GetParam() == "v1.2"; }

  gw::Task CreateUrlTask(const std::string& url = "https://cdn.example.com/videos/clip.mp4") {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url(url);
    gw::Task task;
    grpc::Status s = upload_->CreateUrlTask(Ctx().get(), req, &task);
    EXPECT_TRUE(s.ok()) << Describe(s);
    return task;
  }

  grpc::Status GetTask(const std::string& id, gw::Task* task) {
    gw::GetTaskRequest req;
    req.set_task_id(id);
    return tasks_->GetTask(Ctx().get(), req, task);
  }

  json OnlyRequest(const std::string& method, const std::string& path_contains) {
    json matches = json::array();
    for (const auto& r : control_->Requests(path_contains)) {
      if (r["method"] == method) matches.push_back(r);
    }
    EXPECT_EQ(matches.size(), 1u) << method << " " << path_contains << ": " << matches.dump();
    return matches.empty() ? json::object() : matches[0];
  }

  std::string Prefix() const { return "/" + GetParam(); }

  std::unique_ptr<gw::UploadService::Stub> upload_;
  std::unique_ptr<gw::TaskService::Stub> tasks_;
  std::unique_ptr<gw::IntegrationService::Stub> integrations_;
};

INSTANTIATE_TEST_SUITE_P(ApiVersions, GatewayE2E, ::testing::Values("v1.2", "v1.3"),
                         [](const auto& info) { return info.param == "v1.2" ? "v1_2" : "v1_3"; });

TEST_P(GatewayE2E, CreateUrlTaskSendsTheVersionsFieldsAndReturnsTheTask) {
  gw::CreateUrlTaskRequest req;
  req.set_index_id(kSeedIndex);
  req.set_video_url("https://cdn.example.com/videos/launch.mp4");
  req.set_language("en");
  req.set_enable_video_stream(false);
  (*req.mutable_user_metadata()->mutable_fields())["campaign"].set_string_value("spring");
  gw::Task task;
  grpc::Status s = upload_->CreateUrlTask(Ctx().get(), req, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(task.id().size(), 24u);
  EXPECT_EQ(task.index_id(), kSeedIndex);
  EXPECT_EQ(task.status(), gw::TASK_STATUS_VALIDATING);
  EXPECT_EQ(task.status_text(), "validating");
  EXPECT_TRUE(task.has_create_time());

  json post = OnlyRequest("POST", "/tasks");
  EXPECT_EQ(post["path"], Prefix() + "/tasks");
  EXPECT_EQ(post["api_key"], kTestApiKey);
  EXPECT_TRUE(absl::StartsWith(post["content_type"].get<std::string>(), "multipart/form-data"));
  const json& form = post["form"];
  EXPECT_EQ(form["index_id"], kSeedIndex);
  EXPECT_EQ(form["video_url"], "https://cdn.example.com/videos/launch.mp4");
  if (v12()) {
    EXPECT_EQ(form["language"], "en");
    EXPECT_EQ(form["disable_video_stream"], "true");
    EXPECT_FALSE(form.contains("enable_video_stream"));
    EXPECT_FALSE(form.contains("user_metadata"));
  } else {
    EXPECT_EQ(form["enable_video_stream"], "false");
    EXPECT_FALSE(form.contains("disable_video_stream"));
    EXPECT_EQ(json::parse(form["user_metadata"].get<std::string>()), json({{"campaign", "spring"}}));
  }
  // The gateway reads the task back so the caller gets all of it.
  json get = OnlyRequest("GET", "/tasks/" + task.id());
  EXPECT_EQ(get["api_key"], kTestApiKey);
}

TEST_P(GatewayE2E, GetTaskFollowsTheLifecycle) {
  gw::Task created = CreateUrlTask();
  std::vector<std::string> seen;
  for (int i = 0; i < 5; ++i) {
    gw::Task task;
    grpc::Status s = GetTask(created.id(), &task);
    ASSERT_TRUE(s.ok()) << Describe(s);
    seen.push_back(task.status_text());
    control_->AdvanceClock(2.0);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"validating", "pending", "queued", "indexing", "ready"}));
  gw::Task ready;
  ASSERT_TRUE(GetTask(created.id(), &ready).ok());
  EXPECT_EQ(ready.status(), gw::TASK_STATUS_READY);
  EXPECT_FALSE(ready.video_id().empty());
  EXPECT_EQ(ready.system_metadata().filename(), "clip.mp4");
  EXPECT_GT(ready.system_metadata().duration_seconds(), 0);
  EXPECT_GT(ready.system_metadata().width(), 0);
  EXPECT_TRUE(ready.has_hls());  // streaming is on by default
  if (v12()) {
    EXPECT_TRUE(ready.has_estimated_time());
  }
  json gets = control_->Requests("/tasks/" + created.id());
  ASSERT_FALSE(gets.empty());
  EXPECT_EQ(gets.back()["path"], Prefix() + "/tasks/" + created.id());
}

TEST_P(GatewayE2E, UnknownTaskIsNotFoundWhicheverWayUpstreamSaysIt) {
  gw::Task task;
  grpc::Status s = GetTask("aaaaaaaaaaaaaaaaaaaaaaaa", &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(s);
  auto info = ErrorInfoOf(s);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "RESOURCE_NOT_EXIST");
  EXPECT_EQ(info->domain(), "api.twelvelabs.io");
  json get = OnlyRequest("GET", "/tasks/aaaaaaaaaaaaaaaaaaaaaaaa");
  // The simulator answers 404 on v1.2 and 400 on v1.3, as the real API has.
  EXPECT_EQ(get["status"], v12() ? 404 : 400);
}

TEST_P(GatewayE2E, ExternalProviderOnlyOnV12) {
  gw::CreateExternalProviderTaskRequest req;
  req.set_index_id(kSeedIndex);
  req.set_url("https://www.youtube.com/watch?v=dQw4w9WgXcQ");
  gw::Task task;
  grpc::Status s = upload_->CreateExternalProviderTask(Ctx().get(), req, &task);
  if (v12()) {
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_EQ(task.id().size(), 24u);
    json post = OnlyRequest("POST", "/tasks/external-provider");
    EXPECT_EQ(post["json"], json({{"index_id", kSeedIndex}, {"url", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}}));
    EXPECT_EQ(post["api_key"], kTestApiKey);
  } else {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "v1.2")) << s.error_message();
    EXPECT_TRUE(control_->Requests().empty());
  }
}

TEST_P(GatewayE2E, ListTasksPagesWithTokensAndPassesFilters) {
  std::set<std::string> created;
  for (int i = 0; i < 5; ++i) created.insert(CreateUrlTask(absl::StrCat("https://cdn.example.com/v", i, ".mp4")).id());
  control_->ClearRequests();
  std::set<std::string> listed;
  gw::ListTasksRequest req;
  req.set_index_id(kSeedIndex);
  req.set_page_size(2);
  int pages = 0;
  while (true) {
    gw::ListTasksResponse resp;
    grpc::Status s = tasks_->ListTasks(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << Describe(s);
    ++pages;
    EXPECT_EQ(resp.total_size(), 5);
    for (const auto& t : resp.tasks()) listed.insert(t.id());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(listed, created);
  json lists = control_->Requests("/tasks");
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[1]["query"]["page"], json({"2"}));
  EXPECT_EQ(lists[1]["query"]["page_limit"], json({"2"}));
  EXPECT_EQ(lists[1]["query"]["index_id"], json({kSeedIndex}));

  // Filters travel in the version's own form.
  control_->ClearRequests();
  gw::ListTasksRequest filtered;
  filtered.add_statuses(gw::TASK_STATUS_READY);
  filtered.add_statuses(gw::TASK_STATUS_VALIDATING);
  filtered.set_sort_by(gw::TASK_SORT_FIELD_UPDATE_TIME);
  filtered.set_sort_order(gw::SORT_ORDER_ASCENDING);
  filtered.set_filename("v1.mp4");
  gw::ListTasksResponse resp;
  grpc::Status s = tasks_->ListTasks(Ctx().get(), filtered, &resp);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(resp.tasks_size(), 1);
  EXPECT_EQ(resp.tasks(0).system_metadata().filename(), "v1.mp4");
  json q = OnlyRequest("GET", "/tasks")["query"];
  EXPECT_EQ(q["status"], v12() ? json({"ready,validating"}) : json({"ready", "validating"}));
  EXPECT_EQ(q["sort_by"], json({"updated_at"}));
  EXPECT_EQ(q["sort_option"], json({"asc"}));
  EXPECT_EQ(q["filename"], json({"v1.mp4"}));

  // A token from one listing is refused for another.
  gw::ListTasksRequest mixed = filtered;
  mixed.set_page_token(req.page_token());
  s = tasks_->ListTasks(Ctx().get(), mixed, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "page_token:")) << s.error_message();
}

TEST_P(GatewayE2E, DeleteTaskOnlyWhenUpstreamAllowsIt) {
  gw::Task running = CreateUrlTask();
  gw::DeleteTaskRequest del;
  del.set_task_id(running.id());
  google::protobuf::Empty empty;
  grpc::Status s = tasks_->DeleteTask(Ctx().get(), del, &empty);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "TASK_CANNOT_BE_DELETED");

  gw::Task broken = CreateUrlTask("https://cdn.example.com/broken.mp4");
  control_->AdvanceClock(3);
  gw::Task failed;
  ASSERT_TRUE(GetTask(broken.id(), &failed).ok());
  EXPECT_EQ(failed.status(), gw::TASK_STATUS_FAILED);
  control_->ClearRequests();
  del.set_task_id(broken.id());
  s = tasks_->DeleteTask(Ctx().get(), del, &empty);
  ASSERT_TRUE(s.ok()) << Describe(s);
  json req = OnlyRequest("DELETE", "/tasks/" + broken.id());
  EXPECT_EQ(req["path"], Prefix() + "/tasks/" + broken.id());
  EXPECT_EQ(req["status"], v12() ? 200 : 204);
  EXPECT_EQ(GetTask(broken.id(), &failed).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_P(GatewayE2E, IndexTaskCounts) {
  CreateUrlTask();
  CreateUrlTask();
  CreateUrlTask("https://cdn.example.com/broken.mp4");
  control_->AdvanceClock(2.5);  // broken -> failed, others -> pending
  control_->ClearRequests();
  gw::GetIndexTaskCountsRequest req;
  req.set_index_id(kSeedIndex);
  gw::IndexTaskCounts counts;
  grpc::Status s = tasks_->GetIndexTaskCounts(Ctx().get(), req, &counts);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(counts.index_id(), kSeedIndex);
  EXPECT_EQ(counts.pending(), 2);
  EXPECT_EQ(counts.failed(), 1);
  EXPECT_EQ(counts.total(), 3);
  json get = OnlyRequest("GET", "/tasks/status");
  EXPECT_EQ(get["query"]["index_id"], json({kSeedIndex}));
}

TEST_P(GatewayE2E, IntegrationsImportStatusAndLogs) {
  gw::ListIntegrationsResponse list;
  ASSERT_TRUE(integrations_->ListIntegrations(Ctx().get(), gw::ListIntegrationsRequest(), &list).ok());
  ASSERT_EQ(list.integrations_size(), 1);
  EXPECT_EQ(list.integrations(0).name(), "marketing");
  EXPECT_EQ(list.integrations(0).integration_id(), kSeedIntegration);
  EXPECT_EQ(list.integrations(0).region(), "us-west-2");
  EXPECT_TRUE(control_->Requests().empty()) << "ListIntegrations must not call upstream";

  gw::ImportVideosRequest imp;
  imp.set_integration("marketing");
  imp.set_index_id(kSeedIndex);
  imp.set_incremental_import(true);
  (*imp.mutable_user_metadata()->mutable_fields())["batch"].set_number_value(5);
  gw::ImportVideosResponse started;
  grpc::Status s = integrations_->ImportVideos(Ctx().get(), imp, &started);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(started.videos_size(), 2);
  ASSERT_EQ(started.failed_files_size(), 1);
  EXPECT_EQ(started.failed_files(0).filename(), "broken-c.mp4");
  json post = OnlyRequest("POST", "/tasks/transfers/import/");
  EXPECT_EQ(post["path"], Prefix() + "/tasks/transfers/import/" + kSeedIntegration);
  EXPECT_EQ(post["json"], json({{"index_id", kSeedIndex}, {"incremental_import", true}, {"user_metadata", {{"batch", 5}}}}));

  // An imported video's id is also a task id.
  gw::Task task;
  ASSERT_TRUE(GetTask(started.videos(0).video_id(), &task).ok());

  gw::GetImportStatusRequest st;
  st.set_integration(kSeedIntegration);  // by id works too
  st.set_index_id(kSeedIndex);
  gw::ImportStatus status;
  s = integrations_->GetImportStatus(Ctx().get(), st, &status);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(status.validating_size(), 2);
  EXPECT_EQ(status.failed_size(), 1);
  json sreq = OnlyRequest("GET", "/status");
  EXPECT_EQ(sreq["query"]["index_id"], json({kSeedIndex}));

  gw::ListImportLogsRequest lr;
  lr.set_integration("marketing");
  gw::ListImportLogsResponse logs;
  s = integrations_->ListImportLogs(Ctx().get(), lr, &logs);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(logs.logs_size(), 1);
  EXPECT_EQ(logs.logs(0).index_id(), kSeedIndex);
  EXPECT_FALSE(logs.logs(0).has_end_time());  // still running
  EXPECT_EQ(logs.logs(0).video_status().validating(), 2);
  OnlyRequest("GET", "/logs");
}

TEST_P(GatewayE2E, ImportLogsArePagedByTheGateway) {
  gw::ImportVideosRequest imp;
  imp.set_integration("marketing");
  imp.set_index_id(kSeedIndex);
  imp.set_incremental_import(true);
  for (int i = 0; i < 3; ++i) {
    gw::ImportVideosResponse started;
    grpc::Status s = integrations_->ImportVideos(Ctx().get(), imp, &started);
    ASSERT_TRUE(s.ok()) << Describe(s);
    control_->AdvanceClock(3600);  // the run ends: one import at a time
  }
  gw::ListImportLogsRequest lr;
  lr.set_integration("marketing");
  gw::ListImportLogsResponse all;
  ASSERT_TRUE(integrations_->ListImportLogs(Ctx().get(), lr, &all).ok());
  ASSERT_EQ(all.logs_size(), 3);
  EXPECT_TRUE(all.next_page_token().empty());  // page_size 0: everything

  // Two pages of 2 + 1, the same runs in the same order (oldest first).
  lr.set_page_size(2);
  gw::ListImportLogsResponse first, second;
  grpc::Status s = integrations_->ListImportLogs(Ctx().get(), lr, &first);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(first.logs_size(), 2);
  ASSERT_FALSE(first.next_page_token().empty());
  lr.set_page_token(first.next_page_token());
  s = integrations_->ListImportLogs(Ctx().get(), lr, &second);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(second.logs_size(), 1);
  EXPECT_TRUE(second.next_page_token().empty());
  std::vector<std::string> paged, whole;
  for (const auto* page : {&first, &second}) {
    for (const auto& l : page->logs()) paged.push_back(l.SerializeAsString());
  }
  for (const auto& l : all.logs()) whole.push_back(l.SerializeAsString());
  EXPECT_EQ(paged, whole);

  // A token is bound to its integration; page_size has bounds.
  control_->ClearRequests();
  gw::ListImportLogsRequest other;
  other.set_integration("marketing");
  other.set_page_token("not-a-token");
  gw::ListImportLogsResponse ignored;
  s = integrations_->ListImportLogs(Ctx().get(), other, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "page_token")) << s.error_message();
  other.clear_page_token();
  other.set_page_size(101);
  s = integrations_->ListImportLogs(Ctx().get(), other, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "page_size")) << s.error_message();
  EXPECT_TRUE(control_->Requests().empty()) << "bad paging must be refused before any REST call";
}

TEST_P(GatewayE2E, CheckAwsS3SetupIsLocal) {
  gw::CheckAwsS3SetupRequest req;
  req.set_bucket("acme-videos");
  req.set_region("eu-central-1");
  req.set_aws_account_id("123456789012");
  req.set_policy_name("TwelvelabsIntegrationPolicy");
  req.set_role_name("TwelveLabsIntegrationRole");
  gw::CheckAwsS3SetupResponse resp;
  ASSERT_TRUE(integrations_->CheckAwsS3Setup(Ctx().get(), req, &resp).ok());
  EXPECT_FALSE(resp.ok());
  std::set<std::string> fields;
  for (const auto& f : resp.findings()) fields.insert(f.field());
  EXPECT_EQ(fields, (std::set<std::string>{"region", "role_name"}));
  EXPECT_TRUE(control_->Requests().empty());
}

TEST_P(GatewayE2E, BadInputIsRefusedBeforeAnyRestCall) {
  struct Case {
    std::string name;
    std::function<grpc::Status()> call;
    grpc::StatusCode code;
    std::string field;
  };
  auto create_url = [this](std::string index, std::string url, std::string request_id = "") {
    return [this, index, url, request_id] {
      gw::CreateUrlTaskRequest r;
      r.set_index_id(index);
      r.set_video_url(url);
      r.set_request_id(request_id);
      gw::Task t;
      return upload_->CreateUrlTask(Ctx().get(), r, &t);
    };
  };
  std::vector<Case> cases = {
      {"missing index", create_url("", "https://x.example/a.mp4"), grpc::StatusCode::INVALID_ARGUMENT, "index_id"},
      {"malformed index", create_url("xyz", "https://x.example/a.mp4"), grpc::StatusCode::INVALID_ARGUMENT, "index_id"},
      {"empty url", create_url(kSeedIndex, ""), grpc::StatusCode::INVALID_ARGUMENT, "video_url"},
      {"ftp url", create_url(kSeedIndex, "ftp://x.example/a.mp4"), grpc::StatusCode::INVALID_ARGUMENT, "video_url"},
      {"youtube url for CreateUrlTask", create_url(kSeedIndex, "https://youtu.be/abc"),
       grpc::StatusCode::INVALID_ARGUMENT, "video_url"},
      {"bad request_id", create_url(kSeedIndex, "https://x.example/a.mp4", "no spaces allowed"),
       grpc::StatusCode::INVALID_ARGUMENT, "request_id"},
      {"non-youtube external",
       [this] {
         gw::CreateExternalProviderTaskRequest r;
         r.set_index_id(kSeedIndex);
         r.set_url("https://vimeo.com/123");
         gw::Task t;
         return upload_->CreateExternalProviderTask(Ctx().get(), r, &t);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "url"},
      {"malformed task id",
       [this] {
         gw::Task t;
         return GetTask("../../indexes", &t);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "task_id"},
      {"page size too large",
       [this] {
         gw::ListTasksRequest r;
         r.set_page_size(51);
         gw::ListTasksResponse resp;
         return tasks_->ListTasks(Ctx().get(), r, &resp);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "page_size"},
      {"garbage page token",
       [this] {
         gw::ListTasksRequest r;
         r.set_page_token("not-a-token");
         gw::ListTasksResponse resp;
         return tasks_->ListTasks(Ctx().get(), r, &resp);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "page_token"},
      {"unspecified status filter",
       [this] {
         gw::ListTasksRequest r;
         r.add_statuses(gw::TASK_STATUS_UNSPECIFIED);
         gw::ListTasksResponse resp;
         return tasks_->ListTasks(Ctx().get(), r, &resp);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "statuses[0]"},
      {"delete malformed id",
       [this] {
         gw::DeleteTaskRequest r;
         r.set_task_id("1234");
         google::protobuf::Empty e;
         return tasks_->DeleteTask(Ctx().get(), r, &e);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "task_id"},
      {"counts without index",
       [this] {
         gw::IndexTaskCounts c;
         return tasks_->GetIndexTaskCounts(Ctx().get(), gw::GetIndexTaskCountsRequest(), &c);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "index_id"},
      {"unknown integration",
       [this] {
         gw::ImportVideosRequest r;
         r.set_integration("sales");
         r.set_index_id(kSeedIndex);
         gw::ImportVideosResponse resp;
         return integrations_->ImportVideos(Ctx().get(), r, &resp);
       },
       grpc::StatusCode::NOT_FOUND, "integration"},
      {"import without index",
       [this] {
         gw::ImportVideosRequest r;
         r.set_integration("marketing");
         gw::ImportVideosResponse resp;
         return integrations_->ImportVideos(Ctx().get(), r, &resp);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "index_id"},
      {"nested user_metadata",
       [this] {
         gw::CreateUrlTaskRequest r;
         r.set_index_id(kSeedIndex);
         r.set_video_url("https://x.example/a.mp4");
         (*r.mutable_user_metadata()->mutable_fields())["deep"].mutable_list_value();
         gw::Task t;
         return upload_->CreateUrlTask(Ctx().get(), r, &t);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "user_metadata.deep"},
  };
  for (const auto& c : cases) {
    grpc::Status s = c.call();
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << Describe(s);
    EXPECT_TRUE(absl::StrContains(s.error_message(), c.field)) << c.name << ": " << s.error_message();
  }
  EXPECT_TRUE(control_->Requests().empty()) << control_->Requests().dump();
}

TEST_P(GatewayE2E, ReadIsRetriedAfter5xxAndReset) {
  gw::Task created = CreateUrlTask();
  control_->ClearRequests();
  control_->AddFault({{"method", "GET"}, {"path_regex", "/tasks/[0-9a-f]{24}$"}, {"kind", "status"}, {"status", 503}, {"count", 1}});
  control_->AddFault({{"method", "GET"}, {"path_regex", "/tasks/[0-9a-f]{24}$"}, {"kind", "reset"}, {"count", 1}});
  gw::Task task;
  grpc::Status s = GetTask(created.id(), &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(task.id(), created.id());
  json gets = control_->Requests("/tasks/" + created.id());
  ASSERT_EQ(gets.size(), 3u) << gets.dump();
  EXPECT_EQ(gets[0]["status"], 503);
  EXPECT_EQ(gets[2]["status"], 200);
}

TEST_P(GatewayE2E, RateLimitIsResourceExhaustedWithRetryInfo) {
  control_->AddFault({{"method", "POST"}, {"path_regex", "/tasks$"}, {"kind", "rate_limit"}, {"retry_after_seconds", 7}, {"count", 1}});
  gw::CreateUrlTaskRequest req;
  req.set_index_id(kSeedIndex);
  req.set_video_url("https://cdn.example.com/a.mp4");
  gw::Task task;
  grpc::Status s = upload_->CreateUrlTask(Ctx().get(), req, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(s);
  auto delay = RetryDelayOf(s);
  ASSERT_TRUE(delay.has_value());
  EXPECT_EQ(*delay, absl::Seconds(7));
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "TOO_MANY_REQUESTS");
  EXPECT_EQ(control_->Requests("/tasks").size(), 1u);  // not retried
}

TEST_P(GatewayE2E, MalformedUpstreamJsonIsAClearErrorAndTheGatewayKeepsServing) {
  gw::Task created = CreateUrlTask();
  for (const char* kind : {"malformed_json", "wrong_type", "truncated_json"}) {
    control_->AddFault({{"method", "GET"}, {"path_regex", "/tasks/[0-9a-f]{24}$"}, {"kind", kind}, {"count", 1}});
    gw::Task task;
    grpc::Status s = GetTask(created.id(), &task);
    if (std::string(kind) == "truncated_json") {
      // A cut-off body is a broken connection: retried, then served.
      EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::UNAVAILABLE) << kind << " " << Describe(s);
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL) << kind << " " << Describe(s);
      EXPECT_TRUE(absl::StrContains(s.error_message(), "cannot read")) << s.error_message();
    }
    control_->ClearFaults();
    ASSERT_TRUE(GetTask(created.id(), &task).ok()) << "gateway stopped serving after " << kind;
  }
  EXPECT_TRUE(gateway_.process->Running());
}

TEST_P(GatewayE2E, SlowUpstreamGivesDeadlineExceededOnTime) {
  gw::Task created = CreateUrlTask();
  control_->AddFault({{"method", "GET"}, {"path_regex", "/tasks/"}, {"kind", "latency"}, {"latency_ms", 5000}, {"count", -1}});
  gw::GetTaskRequest req;
  req.set_task_id(created.id());
  gw::Task task;
  absl::Time start = absl::Now();
  grpc::Status s = tasks_->GetTask(Ctx(absl::Milliseconds(700)).get(), req, &task);
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(s);
  // It answers at the caller's deadline, not when upstream finally does.
  EXPECT_LT(took, absl::Seconds(4));
  control_->ClearFaults();
}

TEST_P(GatewayE2E, RepeatedRequestIdMakesOneUpstreamTaskEvenAcrossARestart) {
  std::string db = TempPath("state.db");
  gateway_.process->Stop();
  StartGatewayProcess(db);
  gw::CreateUrlTaskRequest req;
  req.set_index_id(kSeedIndex);
  req.set_video_url("https://cdn.example.com/once.mp4");
  req.set_request_id("6f1c2a9e-4b7d-4e2f-9a0b-1c2d3e4f5a6b");
  gw::Task first, second, third;
  ASSERT_TRUE(upload_->CreateUrlTask(Ctx().get(), req, &first).ok());
  ASSERT_TRUE(upload_->CreateUrlTask(Ctx().get(), req, &second).ok());
  EXPECT_EQ(first.id(), second.id());
  // The record survives a restart.
  gateway_.process->Stop();
  StartGatewayProcess(db);
  ASSERT_TRUE(upload_->CreateUrlTask(Ctx().get(), req, &third).ok());
  EXPECT_EQ(third.id(), first.id());
  int posts = 0;
  for (const auto& r : control_->Requests("/tasks")) posts += r["method"] == "POST";
  EXPECT_EQ(posts, 1);
  // The same request_id with different fields is refused.
  req.set_video_url("https://cdn.example.com/other.mp4");
  grpc::Status s = upload_->CreateUrlTask(Ctx().get(), req, &third);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "request_id:")) << s.error_message();
}

TEST_P(GatewayE2E, UpstreamKeyRejectedIsNotUnauthenticated) {
  gateway_.process->Stop();
  GatewayArgs args;
  args.upstream_url = sim_.Url(GetParam());
  args.api_key = "tlk_wrong_key_for_test";
  ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
  tasks_ = gw::TaskService::NewStub(gateway_.channel);
  gw::Task task;
  grpc::Status s = GetTask("aaaaaaaaaaaaaaaaaaaaaaaa", &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "gateway's Twelve Labs API key")) << s.error_message();
  EXPECT_FALSE(absl::StrContains(s.error_message(), "tlk_wrong_key_for_test"));
  EXPECT_FALSE(absl::StrContains(gateway_.process->Log(), "tlk_wrong_key_for_test"));
}

TEST_P(GatewayE2E, HealthIsServing) {
  auto health = grpc::health::v1::Health::NewStub(gateway_.channel);
  for (const char* service : {"", "twelvelabs.gateway.v1.TaskService", "twelvelabs.gateway.v1.UploadService",
                              "twelvelabs.gateway.v1.IntegrationService", "twelvelabs.gateway.v1.AssetService"}) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = health->Check(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << service << " " << Describe(s);
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

TEST_P(GatewayE2E, ConcurrentCallsAllComplete) {
  gw::Task created = CreateUrlTask();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10; ++j) {
        gw::Task t;
        if (GetTask(created.id(), &t).ok() && t.id() == created.id()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
}

}  // namespace
}  // namespace tltest
