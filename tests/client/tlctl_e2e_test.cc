// tlctl as a process against the real gateway and simulator (both
// processes on loopback, see tests/e2e/harness.h): each test checks what a
// user sees (stdout, stderr, exit code) and, where it matters, the REST
// request the simulator received.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/e2e/harness.h"

extern char** environ;

namespace tltest {
namespace {

using nlohmann::json;

constexpr char kConfig[] = R"({"integrations":[
  {"name": "marketing", "integration_id": "0123456789abcdef89abcdef",
   "bucket": "acme-videos", "region": "us-west-2"}]})";
constexpr char kUnknownTask[] = "aaaaaaaaaaaaaaaaaaaaaaaa";

struct CliResult {
  int exit_code = -1;  // -1: killed after the timeout
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// tlctl as a child process with stdout and stderr kept apart (the harness's
// Process merges them, and tlctl's contract is about which goes where).
class Cli {
 public:
  // `env` is added to this environment, from which TLGW_* are removed so a
  // developer's own settings cannot leak into a test.
  Cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) {
    out_path_ = TempPath("tlctl.out");
    err_path_ = TempPath("tlctl.err");
    std::vector<std::string> argv = {Runfile("client/tlctl")};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (!absl::StartsWith(*e, "TLGW_")) env_strings.push_back(*e);
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> argp, envp;
    for (auto& s : argv) argp.push_back(s.data());
    argp.push_back(nullptr);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    int rc = posix_spawn(&pid_, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
    EXPECT_EQ(rc, 0) << "cannot start " << argv[0];
  }
  ~Cli() {
    if (pid_ > 0 && !done_) Wait(absl::ZeroDuration());
  }

  void Kill() {
    if (pid_ > 0 && !done_) kill(pid_, SIGKILL);
  }

  bool Running() {
    if (pid_ <= 0 || done_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    Finish(status);
    return false;
  }

  // Waits up to `timeout`, then kills it (exit_code -1).
  CliResult Wait(absl::Duration timeout = absl::Seconds(60)) {
    absl::Time end = absl::Now() + timeout;
    while (Running() && absl::Now() < end) absl::SleepFor(absl::Milliseconds(10));
    if (Running()) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      done_ = true;
      result_.exit_code = -1;
    }
    result_.out = ReadFile(out_path_);
    result_.err = ReadFile(err_path_);
    return result_;
  }

 private:
  void Finish(int status) {
    done_ = true;
    result_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  pid_t pid_ = -1;
  bool done_ = false;
  std::string out_path_, err_path_;
  CliResult result_;
};

std::string Describe(const CliResult& r) {
  return absl::StrCat("exit ", r.exit_code, "\n--- stdout ---\n", r.out, "--- stderr ---\n", r.err);
}

// The task id in `tlctl get`/create output ("ID          <id>").
std::string TaskIdOf(const std::string& detail) {
  std::smatch m;
  static const std::regex kId("(^|\n)ID +([0-9a-f]{24})\n");
  return std::regex_search(detail, m, kId) ? m[2].str() : "";
}

// The whitespace-separated cells of the table row whose first cell is `key`.
std::vector<std::string> RowOf(const std::string& table, const std::string& key) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<std::string> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!cells.empty() && cells[0] == key) return cells;
  }
  return {};
}

class TlctlE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator());
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.2");
    args.config_json = kConfig;
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
  }

  void TearDown() override {
    if (gateway_.process == nullptr) return;
    EXPECT_FALSE(absl::StrContains(gateway_.process->Log(), kTestApiKey));
    gateway_.process->Stop();
  }

  std::string Addr() const { return absl::StrCat("127.0.0.1:", gateway_.port); }

  // Runs tlctl against this test's gateway and waits for it.
  CliResult Run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    env.emplace("TLGW_ADDR", Addr());
    return Cli(args, env).Wait();
  }

  // create-url of `url` into the seed index; returns the new task's id.
  std::string CreateUrl(const std::string& url = "https://cdn.example.com/videos/clip.mp4") {
    CliResult r = Run({"create-url", url, "--index", kSeedIndex});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    std::string id = TaskIdOf(r.out);
    EXPECT_EQ(id.size(), 24u) << Describe(r);
    return id;
  }

};

TEST_F(TlctlE2E, CreateUrlThenGetAsTableAndJson) {
  CliResult created = Run({"create-url", "https://cdn.example.com/videos/launch.mp4", "--index",
                           kSeedIndex, "--language", "en", "--no-video-stream"});
  ASSERT_EQ(created.exit_code, 0) << Describe(created);
  std::string id = TaskIdOf(created.out);
  ASSERT_EQ(id.size(), 24u) << Describe(created);
  EXPECT_TRUE(absl::StrContains(created.out, "STATUS      validating\n")) << created.out;
  EXPECT_TRUE(created.err.empty()) << created.err;
  json form = control_->Requests("/tasks")[0]["form"];
  EXPECT_EQ(form["video_url"], "https://cdn.example.com/videos/launch.mp4");
  EXPECT_EQ(form["language"], "en");
  EXPECT_EQ(form["disable_video_stream"], "true");

  CliResult table = Run({"get", id});
  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  EXPECT_EQ(TaskIdOf(table.out), id);
  EXPECT_TRUE(absl::StrContains(table.out, absl::StrCat("INDEX       ", kSeedIndex, "\n")));
  EXPECT_TRUE(absl::StrContains(table.out, "FILENAME    launch.mp4\n")) << table.out;

  CliResult as_json = Run({"get", id, "--json"});
  ASSERT_EQ(as_json.exit_code, 0) << Describe(as_json);
  json task = json::parse(as_json.out, nullptr, false);
  ASSERT_FALSE(task.is_discarded()) << as_json.out;
  EXPECT_EQ(task["id"], id);
  EXPECT_EQ(task["indexId"], kSeedIndex);
  EXPECT_EQ(task["status"], "TASK_STATUS_VALIDATING");
  EXPECT_EQ(task["systemMetadata"]["filename"], "launch.mp4");
}

TEST_F(TlctlE2E, ListAsTablePagesAndJson) {
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.insert(CreateUrl(absl::StrCat("https://cdn.example.com/v", i, ".mp4")));

  CliResult all = Run({"list", "--index", kSeedIndex});
  ASSERT_EQ(all.exit_code, 0) << Describe(all);
  std::vector<std::string> lines = absl::StrSplit(all.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << all.out;
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[0], ' ', absl::SkipEmpty())),
            (std::vector<std::string>{"ID", "STATUS", "FILENAME", "DURATION", "CREATED"}));
  for (const auto& id : ids) {
    std::vector<std::string> row = RowOf(all.out, id);
    ASSERT_FALSE(row.empty()) << id << "\n" << all.out;
    EXPECT_EQ(row[1], "validating");
  }
  EXPECT_TRUE(all.err.empty()) << all.err;

  // One page of two: the rest is announced on stderr, not mixed into the table.
  CliResult page = Run({"list", "--index", kSeedIndex, "--page-size", "2"});
  ASSERT_EQ(page.exit_code, 0) << Describe(page);
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(page.out, '\n', absl::SkipEmpty())).size(), 3u);
  EXPECT_TRUE(absl::StartsWith(page.err, "showing 2 of 3 tasks;")) << page.err;

  // --all follows the page tokens.
  CliResult every = Run({"list", "--index", kSeedIndex, "--page-size", "2", "--all", "--json"});
  ASSERT_EQ(every.exit_code, 0) << Describe(every);
  json listed = json::parse(every.out, nullptr, false);
  ASSERT_FALSE(listed.is_discarded()) << every.out;
  std::set<std::string> listed_ids;
  for (const auto& t : listed["tasks"]) listed_ids.insert(t["id"].get<std::string>());
  EXPECT_EQ(listed_ids, ids);
  EXPECT_FALSE(listed.contains("nextPageToken"));

  // Status filters reach upstream in the version's form.
  control_->ClearRequests();
  CliResult filtered = Run({"list", "--status", "ready,failed"});
  ASSERT_EQ(filtered.exit_code, 0) << Describe(filtered);
  EXPECT_EQ(filtered.out, "no tasks found\n");
  EXPECT_EQ(control_->Requests("/tasks")[0]["query"]["status"], json({"ready,failed"}));
}

TEST_F(TlctlE2E, DeleteAFailedTaskButNotARunningOne) {
  std::string running = CreateUrl();
  CliResult refused = Run({"delete", running});
  EXPECT_EQ(refused.exit_code, 1) << Describe(refused);
  EXPECT_TRUE(absl::StartsWith(refused.err, "tlctl: FAILED_PRECONDITION: ")) << refused.err;
  EXPECT_TRUE(absl::StrContains(refused.err, "(reason: TASK_CANNOT_BE_DELETED)")) << refused.err;

  std::string broken = CreateUrl("https://cdn.example.com/broken.mp4");
  control_->AdvanceClock(3);
  CliResult failed = Run({"get", broken});
  ASSERT_EQ(failed.exit_code, 0) << Describe(failed);
  EXPECT_TRUE(absl::StrContains(failed.out, "STATUS      failed\n")) << failed.out;

  CliResult deleted = Run({"delete", broken});
  ASSERT_EQ(deleted.exit_code, 0) << Describe(deleted);
  EXPECT_EQ(deleted.out, absl::StrCat("deleted task ", broken, "\n"));
  EXPECT_EQ(Run({"get", broken}).exit_code, 1);
}

TEST_F(TlctlE2E, CountsByStatus) {
  CreateUrl();
  CreateUrl();
  CreateUrl("https://cdn.example.com/broken.mp4");
  control_->AdvanceClock(2.5);  // broken -> failed, the others -> pending
  CliResult r = Run({"counts", "--index", kSeedIndex});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StartsWith(r.out, absl::StrCat("INDEX ", kSeedIndex, "\n"))) << r.out;
  EXPECT_EQ(RowOf(r.out, "pending"), (std::vector<std::string>{"pending", "2"})) << r.out;
  EXPECT_EQ(RowOf(r.out, "failed"), (std::vector<std::string>{"failed", "1"})) << r.out;
  EXPECT_EQ(RowOf(r.out, "total"), (std::vector<std::string>{"total", "3"})) << r.out;

  CliResult as_json = Run({"counts", "--index", kSeedIndex, "--json"});
  ASSERT_EQ(as_json.exit_code, 0) << Describe(as_json);
  json counts = json::parse(as_json.out, nullptr, false);
  EXPECT_EQ(counts["pending"], "2");  // int64 is a string in proto3 JSON
}

TEST_F(TlctlE2E, IntegrationsImportStatusAndLogs) {
  CliResult list = Run({"integrations"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_EQ(RowOf(list.out, "marketing"),
            (std::vector<std::string>{"marketing", kSeedIntegration, "acme-videos", "us-west-2",
                                      "default"}))
      << list.out;

  CliResult started = Run({"import", "marketing", "--index", kSeedIndex, "--no-incremental",
                           "--retry-failed", "--metadata", "batch:=5", "--metadata", "team=ads"});
  ASSERT_EQ(started.exit_code, 0) << Describe(started);
  EXPECT_TRUE(absl::StartsWith(started.out, "import started: 2 videos to index, 1 file rejected\n"))
      << started.out;
  EXPECT_FALSE(RowOf(started.out, "broken-c.mp4").empty()) << started.out;
  json post = control_->Requests("/tasks/transfers/import/")[0];
  EXPECT_EQ(post["json"], json({{"index_id", kSeedIndex},
                                {"incremental_import", false},
                                {"retry_failed", true},
                                {"user_metadata", {{"batch", 5}, {"team", "ads"}}}}));

  CliResult status = Run({"import-status", kSeedIntegration, "--index", kSeedIndex});
  ASSERT_EQ(status.exit_code, 0) << Describe(status);
  EXPECT_TRUE(absl::StartsWith(status.out, "validating 2, failed 1\n")) << status.out;
  std::vector<std::string> failed_row = RowOf(status.out, "failed");
  ASSERT_GE(failed_row.size(), 3u) << status.out;
  EXPECT_EQ(failed_row[2], "broken-c.mp4");

  CliResult logs = Run({"import-logs", "marketing"});
  ASSERT_EQ(logs.exit_code, 0) << Describe(logs);
  std::vector<std::string> row = RowOf(logs.out, kSeedIndex);
  ASSERT_EQ(row.size(), 11u) << logs.out;  // the STARTED time is two cells
  EXPECT_EQ(row[4], "running");
  EXPECT_EQ(row[6], "2");  // VALIDATING
  EXPECT_TRUE(absl::StrContains(logs.out, "failed files:\n  broken-c.mp4: ")) << logs.out;

  CliResult again = Run({"import", "marketing", "--index", kSeedIndex});
  EXPECT_EQ(again.exit_code, 1) << Describe(again);
  EXPECT_TRUE(absl::StartsWith(again.err, "tlctl: ALREADY_EXISTS: ")) << again.err;
}

TEST_F(TlctlE2E, CheckS3SetupPrintsFindingsAndFailsWhenNotOk) {
  CliResult wrong = Run({"check-s3-setup", "--bucket", "acme-videos", "--region", "eu-central-1",
                         "--account", "123456789012", "--policy", "TwelvelabsIntegrationPolicy",
                         "--role", "TwelvelabsIntegrationRole"});
  EXPECT_NE(wrong.exit_code, 0) << Describe(wrong);
  EXPECT_EQ(wrong.exit_code, 3) << Describe(wrong);
  EXPECT_TRUE(absl::StartsWith(wrong.out, "error    region: ")) << wrong.out;
  EXPECT_TRUE(absl::StrContains(wrong.out, "us-west-2")) << wrong.out;
  EXPECT_TRUE(absl::StrContains(wrong.out, "\n         fix: ")) << wrong.out;
  EXPECT_TRUE(absl::StrContains(wrong.out, "S3 setup is not ready: 1 error to fix\n")) << wrong.out;

  CliResult right = Run({"check-s3-setup", "--bucket", "acme-videos", "--region", "us-west-2",
                         "--account", "123456789012", "--policy", "TwelvelabsIntegrationPolicy",
                         "--role", "TwelvelabsIntegrationRole"});
  EXPECT_EQ(right.exit_code, 0) << Describe(right);
  EXPECT_EQ(right.out, "S3 setup looks right: no findings\n");
  EXPECT_TRUE(control_->Requests().empty()) << "the check is local to the gateway";
}

TEST_F(TlctlE2E, UnknownTaskIsExit1WithOneLineNamingNotFound) {
  CliResult r = Run({"get", kUnknownTask});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(absl::StartsWith(r.err, "tlctl: NOT_FOUND: ")) << r.err;
  EXPECT_TRUE(absl::EndsWith(r.err, " (reason: RESOURCE_NOT_EXIST)\n")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(TlctlE2E, UsageErrorsAreExit2AndSendNothing) {
  for (std::vector<std::string> args : {std::vector<std::string>{"get"},
                                        {"list", "--status", "nope"},
                                        {"bogus-command"},
                                        {"counts"},
                                        {"get", kUnknownTask, "--no-such-flag"}}) {
    CliResult r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << "\n" << Describe(r);
    EXPECT_TRUE(absl::StartsWith(r.err, "tlctl: ")) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_TRUE(control_->Requests().empty());
}

TEST_F(TlctlE2E, AddressAndTokenFromTheEnvironmentAndTheTokenIsNeverPrinted) {
  const std::string token = "tlgw-e2e-secret-7Qx";
  // TLGW_ADDR is how Run() reaches the gateway; --addr would override it.
  CliResult r = Run({"get", kUnknownTask}, {{"TLGW_TOKEN", token}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "NOT_FOUND")) << r.err;
  CliResult flag = Run({"get", kUnknownTask, "--token", token, "--addr", Addr()});
  EXPECT_EQ(flag.exit_code, 1);
  CliResult help = Run({"--help"}, {{"TLGW_TOKEN", token}});
  EXPECT_EQ(help.exit_code, 0);
  for (const CliResult* c : {&r, &flag, &help}) {
    EXPECT_FALSE(absl::StrContains(c->out + c->err, token)) << Describe(*c);
  }
}

TEST_F(TlctlE2E, CreateYoutubeOnV12) {
  CliResult r = Run({"create-youtube", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "--index",
                     kSeedIndex, "--json"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json task = json::parse(r.out, nullptr, false);
  EXPECT_EQ(task["id"].get<std::string>().size(), 24u);
  EXPECT_EQ(control_->Requests("/tasks/external-provider")[0]["json"]["url"],
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ");
}

TEST_F(TlctlE2E, UploadStreamsTheFileWithPlainProgressLines) {
  const size_t size = (5 << 20) / 2;  // 2.5 MiB: three chunks
  std::string path = TempPath("launch.mp4");
  {
    std::ofstream out(path, std::ios::binary);
    for (size_t i = 0; i < size; ++i) out.put(static_cast<char>(i * 31 % 256));
  }
  CliResult r = Run({"upload", path, "--index", kSeedIndex, "--filename", "launch.mp4"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  // Not a terminal: plain lines, no carriage returns.
  EXPECT_FALSE(absl::StrContains(r.out, "\r"));
  EXPECT_TRUE(absl::StrContains(r.out, "(2.5 MiB)\n")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "uploaded 1.0 MiB of 2.5 MiB (40%)")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "uploaded 2.5 MiB of 2.5 MiB (100%)")) << r.out;
  EXPECT_EQ(TaskIdOf(r.out).size(), 24u) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "FILENAME    launch.mp4\n")) << r.out;
  json files = control_->Requests("/tasks")[0]["files"];
  EXPECT_EQ(files["video_file"]["size"], size);
  EXPECT_EQ(files["video_file"]["filename"], "launch.mp4");
}

// The watch tests below were first written against a gateway that answered
// WatchTask with UNIMPLEMENTED; they run now that it serves the stream.

// Advances the simulator's clock until `cli` exits, as the watch needs time
// to pass upstream.
CliResult AdvanceUntilExit(Cli* cli, SimControl* control) {
  absl::Time end = absl::Now() + absl::Seconds(60);
  while (cli->Running() && absl::Now() < end) {
    control->AdvanceClock(1);
    absl::SleepFor(absl::Milliseconds(200));
  }
  return cli->Wait(absl::Seconds(5));
}

TEST_F(TlctlE2E, WatchFollowsATaskUntilReady) {
  std::string id = CreateUrl();
  Cli watch({"watch", id, "--addr", Addr()});
  CliResult r = AdvanceUntilExit(&watch, control_.get());
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 2u) << r.out;
  EXPECT_TRUE(absl::StrContains(lines.front(), id)) << r.out;
  EXPECT_TRUE(absl::EndsWith(lines.back(), "  ready")) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "\r"));
}

TEST_F(TlctlE2E, WatchOfABrokenTaskExitsNonZero) {
  std::string id = CreateUrl("https://cdn.example.com/broken.mp4");
  Cli watch({"watch", id, "--addr", Addr()});
  CliResult r = AdvanceUntilExit(&watch, control_.get());
  EXPECT_EQ(r.exit_code, 3) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "  failed\n")) << r.out;
  EXPECT_EQ(r.err, absl::StrCat("tlctl: task ", id, " failed\n"));
}

TEST_F(TlctlE2E, UploadWithWatchEndsWhenTheTaskIsReady) {
  std::string path = TempPath("clip.mp4");
  std::ofstream(path, std::ios::binary) << std::string(3000, 'v');
  Cli upload({"upload", path, "--index", kSeedIndex, "--watch", "--addr", Addr()});
  CliResult r = AdvanceUntilExit(&upload, control_.get());
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "uploaded 2.9 KiB of 2.9 KiB (100%)")) << r.out;
  EXPECT_TRUE(absl::EndsWith(r.out, "  ready\n")) << r.out;
}

// `asset upload` (API v1.3): a file over the 200 MB direct limit goes
// through a multipart session; killed mid-way, `upload FILE --resume ID`
// sends the rest.
class TlctlAssetUploadE2E : public E2EFixture<> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(LaunchSimulator({"--multipart_chunk_bytes=4194304"}));
    GatewayArgs args;
    args.upstream_url = sim_.Url("v1.3");
    ASSERT_NO_FATAL_FAILURE(LaunchGateway(args));
  }
  std::map<std::string, std::string> Env() const {
    return {{"TLGW_ADDR", absl::StrCat("127.0.0.1:", gateway_.port)}};
  }
  // A sparse file of `size` bytes (zeros), never held in memory.
  static std::string SparseFile(const std::string& name, int64_t size) {
    std::string path = TempPath(name);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(ftruncate(fd, size), 0);
    close(fd);
    return path;
  }
  int StoredChunks() {
    int n = 0;
    for (const json& r : control_->Requests("/uploads/")) n += r["method"] == "PUT" && r["status"] == 200;
    return n;
  }
};

TEST_F(TlctlAssetUploadE2E, SmallFileAsJsonThenWithWatch) {
  std::string path = SparseFile("photo.jpg", 3 << 20);
  CliResult r = Cli({"asset", "upload", path, "--json", "--thumbnail"}, Env()).Wait();
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json asset = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(asset.is_discarded()) << r.out;
  EXPECT_EQ(asset["method"], "ASSET_METHOD_DIRECT");
  json post = control_->Requests("/v1.3/assets").back();
  EXPECT_EQ(post["form"]["method"], "direct");
  EXPECT_EQ(post["form"]["enable_thumbnail"], "true");
  EXPECT_TRUE(absl::EndsWith(post["files"]["file"]["filename"].get<std::string>(), "photo.jpg"));

  // --watch follows the asset until the simulator's clock makes it ready.
  control_->ClearRequests();
  Cli watched({"asset", "upload", path, "--watch"}, Env());
  ASSERT_TRUE(Eventually([&] { return control_->Requests("/v1.3/assets/").size() > 0; }, "the first poll"));
  control_->AdvanceClock(30);
  r = watched.Wait();
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::EndsWith(r.out, "  ready\n")) << r.out;
}

// --request-id: the second run is answered with the first asset, and the
// simulator sees one POST /assets.
TEST_F(TlctlAssetUploadE2E, RequestIdMakesARepeatReturnTheFirstAsset) {
  std::string path = SparseFile("once.mp4", 3 << 20);
  CliResult first = Cli({"asset", "upload", path, "--json", "--request-id", "tlctl-once-1"}, Env()).Wait();
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  CliResult again = Cli({"asset", "upload", path, "--json", "--request-id", "tlctl-once-1"}, Env()).Wait();
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  json a = json::parse(first.out, nullptr, false);
  json b = json::parse(again.out, nullptr, false);
  ASSERT_FALSE(a.is_discarded() || b.is_discarded()) << first.out << again.out;
  EXPECT_EQ(a["id"], b["id"]);
  int posts = 0;
  for (const json& r : control_->Requests("/v1.3/assets")) posts += r["method"] == "POST" && r["path"] == "/v1.3/assets";
  EXPECT_EQ(posts, 1);
  CliResult resumed = Cli({"asset", "upload", path, "--resume", "6a0000000000000000000001", "--request-id", "x"},
                          Env()).Wait();
  EXPECT_NE(resumed.exit_code, 0) << "--request-id does not go with --resume";
}

// --index runs UploadAndIndex: the asset is waited for, indexed, and with
// --watch the indexed asset is followed to ready.
TEST_F(TlctlAssetUploadE2E, WithIndexUploadsIndexesAndWatchesToReady) {
  std::string path = SparseFile("indexed.mp4", 2 << 20);
  Cli running({"asset", "upload", path, "--index", kSeedIndex, "--watch"}, Env());
  ASSERT_TRUE(Eventually([&] { return control_->Requests("/v1.3/assets/").size() > 0; }, "the asset's first poll"));
  const std::string created = std::string("/v1.3/indexes/") + kSeedIndex + "/indexed-assets";
  control_->AdvanceClock(30);  // the asset: processing -> ready
  ASSERT_TRUE(Eventually(
      [&] {
        for (const json& r : control_->Requests(created)) {
          if (r["method"] == "POST" && r["path"] == created) return true;
        }
        return false;
      },
      "the indexed asset's create"));
  control_->AdvanceClock(30);  // the indexed asset: pending ... ready
  CliResult r = running.Wait();
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "indexed asset ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("index ", kSeedIndex))) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "ready")) << r.out;
  EXPECT_EQ(control_->Requests("/v1.3/assets").front()["form"]["method"], "direct");
  // Neither --video-stream nor --no-video-stream: left to the upstream's
  // default, as IndexAsset leaves it (tlctl used to ask for a stream).
  for (const json& req : control_->Requests(created)) {
    if (req["method"] == "POST" && req["path"] == created) {
      EXPECT_FALSE(req["json"].contains("enable_video_stream")) << req.dump();
    }
  }
}

TEST_F(TlctlAssetUploadE2E, LargeFileKilledMidwayIsResumed) {
  const int64_t size = 201 << 20;  // 51 chunks of 4 MiB
  std::string path = SparseFile("big.mp4", size);
  {
    Cli first({"asset", "upload", path}, Env());
    ASSERT_TRUE(Eventually([&] { return StoredChunks() >= 5; }, "the first chunks stored", absl::Seconds(60)));
    first.Kill();
    first.Wait(absl::Seconds(5));
  }
  std::string upload_id;
  for (const json& r : control_->Requests("/uploads/")) {
    if (r.contains("chunk")) upload_id = r["chunk"]["upload_id"];
  }
  ASSERT_EQ(upload_id.size(), 24u);
  // The gateway reports the chunks its last PUTs stored as the stream ends.
  absl::SleepFor(absl::Seconds(1));
  CliResult r = Cli({"upload", path, "--resume", upload_id}, Env()).Wait(absl::Seconds(120));
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(absl::StrContains(r.out, "resuming ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "asset ")) << r.out;
  auto status = HttpGet(sim_.port, "/_sim/uploads/" + upload_id);
  ASSERT_TRUE(status.ok()) << status.status();
  json sim = json::parse(*status);
  EXPECT_EQ(sim["status"], "completed");
  EXPECT_EQ(sim["assembled"]["size"], size);

  // A continuation takes no new options.
  CliResult bad = Cli({"asset", "upload", path, "--resume", upload_id, "--type", "audio"}, Env()).Wait();
  EXPECT_EQ(bad.exit_code, 2) << Describe(bad);
}

}  // namespace
}  // namespace tltest
