// The gateway's SQLite state store locked by another process: calls that
// never touch the store go on (completions do not run on the upstream
// event thread), and calls that need it fail UNAVAILABLE within the busy
// timeout instead of hanging.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/e2e/harness.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

class StateStoreE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    const char* dir = std::getenv("TEST_TMPDIR");
    db_path_ = absl::StrCat(dir != nullptr ? dir : "/tmp", "/state-", getpid(), ".db");
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    args.state_db = db_path_;
    // Longer than the calls below wait, so a call stuck behind the lock
    // shows as a missed deadline.
    args.extra_args = {"--state_busy_timeout_ms=6000"};
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
    upload_ = gw::UploadService::NewStub(gateway_.channel);
    tasks_ = gw::TaskService::NewStub(gateway_.channel);
  }
  void TearDown() override {
    if (locker_ != nullptr) Unlock();
    if (gateway_.process != nullptr) gateway_.process->Stop();
  }

  void Lock() {
    ASSERT_EQ(sqlite3_open(db_path_.c_str(), &locker_), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(locker_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  void Unlock() {
    sqlite3_exec(locker_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(locker_);
    locker_ = nullptr;
  }
  grpc::Status CreateUrlTask(const std::string& request_id, gw::Task* task,
                             absl::Duration timeout = absl::Seconds(20)) {
    gw::CreateUrlTaskRequest req;
    req.set_index_id(kSeedIndex);
    req.set_video_url("https://cdn.example.com/videos/clip.mp4");
    req.set_request_id(request_id);
    return upload_->CreateUrlTask(Ctx(timeout).get(), req, task);
  }
  size_t Posts() {
    size_t n = 0;
    for (const auto& r : control_->Requests("/tasks")) n += r["method"] == "POST";
    return n;
  }

  std::string db_path_;
  sqlite3* locker_ = nullptr;
  std::unique_ptr<gw::UploadService::Stub> upload_;
  std::unique_ptr<gw::TaskService::Stub> tasks_;
};

TEST_F(StateStoreE2E, ALockedStoreDoesNotStallCallsThatDoNotUseIt) {
  gw::Task first;
  ASSERT_TRUE(CreateUrlTask("", &first).ok());
  Lock();
  // A create whose owner record now waits on the lock, on a completion
  // thread.
  grpc::Status blocked_status;
  gw::Task blocked_task;
  std::thread blocked([&] { blocked_status = CreateUrlTask("", &blocked_task); });
  ASSERT_TRUE(Eventually([&] { return Posts() == 2; }, "the second create reaching upstream"));
  for (int i = 0; i < 3; ++i) {
    gw::GetTaskRequest req;
    req.set_task_id(first.id());
    gw::Task got;
    grpc::Status s = tasks_->GetTask(Ctx(absl::Seconds(3)).get(), req, &got);
    EXPECT_TRUE(s.ok()) << "GetTask stalled behind the locked store: " << s.error_code() << " "
                        << s.error_message();
  }
  Unlock();
  blocked.join();
  EXPECT_TRUE(blocked_status.ok()) << blocked_status.error_message();
}

TEST_F(StateStoreE2E, ACreateThatNeedsALockedStoreIsUnavailableNotAHang) {
  Lock();
  gw::Task task;
  grpc::Status s = CreateUrlTask("req-locked-1", &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "locked")) << s.error_message();
  EXPECT_EQ(Posts(), 0u) << "nothing is created when the request_id cannot be recorded";
  Unlock();
  EXPECT_TRUE(CreateUrlTask("req-locked-1", &task).ok());
}

}  // namespace
}  // namespace tltest
