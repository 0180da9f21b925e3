// tlctl run in-process (RunTlctl) with captured output: usage errors and
// help without any gateway, and upload/watch against a fake gateway, on a
// "terminal" and off one.
#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "tests/client/fake_gateway.h"

namespace tlclient {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCli(std::vector<std::string> args, bool terminal = false, std::string env_token = "",
              std::string env_addr = "") {
  std::ostringstream out, err;
  CliEnvironment env;
  env.address = env_addr;
  env.token = env_token;
  env.stdout_is_terminal = terminal;
  env.stderr_is_terminal = terminal;
  env.out = &out;
  env.err = &err;
  int code = RunTlctl(args, env);
  return {code, out.str(), err.str()};
}

TEST(TlctlUsage, NoCommandPrintsUsageAndExits2) {
  Result r = RunCli({});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_TRUE(absl::StrContains(r.err, "usage: tlctl")) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(TlctlUsage, HelpGoesToStdoutAndExits0) {
  Result r = RunCli({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  for (const char* command :
       {"upload", "create-url", "create-youtube", "get", "list", "delete", "watch", "counts",
        "integrations", "import", "import-status", "import-logs", "check-s3-setup"}) {
    EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("\n  ", command, " "))) << command;
  }
  Result upload = RunCli({"help", "upload"});
  EXPECT_EQ(upload.code, kExitOk);
  EXPECT_TRUE(absl::StrContains(upload.out, "usage: tlctl upload FILE [options]")) << upload.out;
  EXPECT_TRUE(absl::StrContains(upload.out, "--no-video-stream")) << upload.out;
  EXPECT_TRUE(absl::StrContains(RunCli({"list", "--help"}).out, "--page-size N"));
}

TEST(TlctlUsage, ErrorsNameTheProblemAndTheCommandsHelp) {
  Result r = RunCli({"get"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "tlctl: 'get' needs TASK_ID\nRun 'tlctl get --help' for usage.\n");
  EXPECT_EQ(RunCli({"frobnicate"}).code, kExitUsage);
  EXPECT_EQ(RunCli({"create-url", "https://x.example/a.mp4"}).code, kExitUsage);  // no --index
  EXPECT_EQ(RunCli({"get", "x", "--timeout", "-3"}).code, kExitUsage);
  EXPECT_EQ(RunCli({"get", "x", "--timeout", "soon"}).code, kExitUsage);
}

TEST(TlctlUsage, BadValuesAreUsageErrorsBeforeAnyCall) {
  // 127.0.0.1:1 refuses connections: exit 2 (not 1) proves no call was made.
  Result status = RunCli({"list", "--status", "ready,bogus", "--addr", "127.0.0.1:1"});
  EXPECT_EQ(status.code, kExitUsage);
  EXPECT_TRUE(absl::StrContains(status.err, "unknown status 'bogus'")) << status.err;
  Result size = RunCli({"list", "--page-size", "500", "--addr", "127.0.0.1:1"});
  EXPECT_EQ(size.code, kExitUsage);
  EXPECT_TRUE(absl::StrContains(size.err, "--page-size must be 1 to 50")) << size.err;
  Result meta = RunCli({"create-url", "https://x.example/a.mp4", "--index", "i", "--metadata",
                        "novalue", "--addr", "127.0.0.1:1"});
  EXPECT_EQ(meta.code, kExitUsage);
  EXPECT_TRUE(absl::StrContains(meta.err, "KEY=VALUE")) << meta.err;
  Result typed = RunCli(
      {"import", "marketing", "--index", "i", "--metadata", "n:=many", "--addr", "127.0.0.1:1"});
  EXPECT_EQ(typed.code, kExitUsage);
}

TEST(TlctlErrors, UnreachableGatewayIsExit1WithOneLineAndNoToken) {
  Result r = RunCli(
      {"get", "0123456789abcdef01234567", "--addr", "127.0.0.1:1", "--token", "tok-do-not-print"});
  EXPECT_EQ(r.code, kExitCallFailed);
  EXPECT_TRUE(absl::StartsWith(r.err, "tlctl: UNAVAILABLE: ")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(absl::StrContains(r.out + r.err, "tok-do-not-print"));
}

TEST(TlctlErrors, ATokenWithAControlCharacterIsRefusedWithoutShowingIt) {
  Result r = RunCli({"get", "0123456789abcdef01234567", "--addr", "127.0.0.1:1"}, false,
                    "tok-sec\x01ret");
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_TRUE(absl::StrContains(r.err, "control")) << r.err;
  EXPECT_FALSE(absl::StrContains(r.out + r.err, "tok-sec")) << r.err;
}

class TlctlFakeGatewayTest : public ::testing::Test {
 protected:
  std::vector<std::string> With(std::vector<std::string> args) {
    args.push_back("--addr");
    args.push_back(fake_.address());
    return args;
  }
  tltest::FakeGateway fake_;
};

TEST_F(TlctlFakeGatewayTest, ATokenEndingInCrLfIsTrimmedNotAnAbort) {
  Result r = RunCli(With({"get", "0123456789abcdef01234567"}), false, "tok-trailing-newline\r\n");
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_FALSE(absl::StrContains(r.out + r.err, "tok-trailing-newline")) << r.err;
  ASSERT_FALSE(fake_.authorizations().empty());
  EXPECT_EQ(fake_.authorizations().back(), "Bearer tok-trailing-newline");
}

TEST_F(TlctlFakeGatewayTest, UploadPrintsPlainProgressThenTheTask) {
  std::string path = tltest::WriteTestFile("clip.mp4", 5 * (1 << 20));
  Result r = RunCli(With({"upload", path, "--index", "0123456789abcdef01234567", "--language", "en",
                          "--no-video-stream", "--metadata", "campaign=spring", "--metadata",
                          "batch:=5", "--request-id", "req-1"}));
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_GE(lines.size(), 7u) << r.out;
  EXPECT_EQ(lines[0], absl::StrCat("uploading ", path, " (5.0 MiB)"));
  // One line per chunk here, since each 1 MiB chunk is 20% of the file.
  for (int i = 1; i <= 5; ++i) {
    EXPECT_TRUE(absl::StartsWith(lines[i],
                                 absl::StrCat("uploaded ", i, ".0 MiB of 5.0 MiB (", i * 20, "%)")))
        << lines[i];
  }
  EXPECT_FALSE(absl::StrContains(r.out, "\r"));
  EXPECT_TRUE(absl::StrContains(r.out, "ID          0123456789abcdef00000001\n")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "STATUS      validating\n")) << r.out;

  auto uploads = fake_.uploads();
  ASSERT_EQ(uploads.size(), 1u);
  const gw::UploadVideoFileHeader& h = uploads[0].header;
  EXPECT_EQ(h.index_id(), "0123456789abcdef01234567");
  EXPECT_EQ(h.language(), "en");
  ASSERT_TRUE(h.has_enable_video_stream());
  EXPECT_FALSE(h.enable_video_stream());
  EXPECT_EQ(h.request_id(), "req-1");
  EXPECT_EQ(h.user_metadata().fields().at("campaign").string_value(), "spring");
  EXPECT_EQ(h.user_metadata().fields().at("batch").number_value(), 5);
  EXPECT_EQ(uploads[0].bytes.size(), 5u << 20);
}

TEST_F(TlctlFakeGatewayTest, UploadOnATerminalDrawsABarInPlace) {
  std::string path = tltest::WriteTestFile("clip.mp4", 3 * (1 << 20));
  Result r = RunCli(With({"upload", path, "--index", "0123456789abcdef01234567"}),
                    /*terminal=*/true);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "\r[")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "100%  3.0 MiB / 3.0 MiB")) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "uploaded "));
}

TEST_F(TlctlFakeGatewayTest, UploadJsonKeepsStdoutPureJson) {
  std::string path = tltest::WriteTestFile("clip.mp4", 1000);
  Result r = RunCli(With({"upload", path, "--index", "0123456789abcdef01234567", "--json"}));
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "{")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "\"id\": \"0123456789abcdef00000001\"")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.err, "uploaded 1000 B of 1000 B (100%)")) << r.err;
}

TEST_F(TlctlFakeGatewayTest, UploadSendsTheTokenFromTheEnvironment) {
  std::string path = tltest::WriteTestFile("clip.mp4", 10);
  Result r =
      RunCli(With({"upload", path, "--index", "0123456789abcdef01234567"}), false, "env-token");
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(fake_.authorizations(), std::vector<std::string>{"Bearer env-token"});
  EXPECT_FALSE(absl::StrContains(r.out + r.err, "env-token"));
}

TEST_F(TlctlFakeGatewayTest, UploadOfAMissingFileIsExit1) {
  Result r = RunCli(With({"upload", "/nonexistent/clip.mp4", "--index", "i"}));
  EXPECT_EQ(r.code, kExitCallFailed);
  EXPECT_EQ(r.err, "tlctl: NOT_FOUND: /nonexistent/clip.mp4: No such file or directory\n");
}

TEST_F(TlctlFakeGatewayTest, UploadWithWatchFollowsTheTask) {
  fake_.SetWatch(
      {tltest::Event("0123456789abcdef00000001", gw::TASK_STATUS_VALIDATING, "validating", 1),
       tltest::Event("0123456789abcdef00000001", gw::TASK_STATUS_READY, "ready", 2)},
      grpc::Status::OK);
  std::string path = tltest::WriteTestFile("clip.mp4", 10);
  Result r = RunCli(With({"upload", path, "--index", "0123456789abcdef01234567", "--watch"}));
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "0123456789abcdef00000001  ready\n")) << r.out;
}

TEST_F(TlctlFakeGatewayTest, WatchUntilReadyPrintsALinePerChange) {
  fake_.SetWatch({tltest::Event("t1", gw::TASK_STATUS_PENDING, "pending", 1),
                  tltest::Event("t1", gw::TASK_STATUS_INDEXING, "indexing", 2, 40),
                  tltest::Event("t1", gw::TASK_STATUS_INDEXING, "indexing", 3, 40),
                  tltest::Event("t1", gw::TASK_STATUS_READY, "ready", 4)},
                 grpc::Status::OK);
  Result r = RunCli(With({"watch", "t1"}));
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "2024-05-01 12:00:01Z  t1  pending\n"
            "2024-05-01 12:00:02Z  t1  indexing 40%\n"
            "2024-05-01 12:00:04Z  t1  ready\n");
}

TEST_F(TlctlFakeGatewayTest, WatchOnATerminalRewritesOneLine) {
  fake_.SetWatch({tltest::Event("t1", gw::TASK_STATUS_PENDING, "pending", 1),
                  tltest::Event("t1", gw::TASK_STATUS_READY, "ready", 2)},
                 grpc::Status::OK);
  Result r = RunCli(With({"watch", "t1"}), /*terminal=*/true);
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "\rt1  pending\rt1  ready  \n");
}

TEST_F(TlctlFakeGatewayTest, WatchOfAFailedTaskExits3) {
  fake_.SetWatch({tltest::Event("t1", gw::TASK_STATUS_FAILED, "failed", 1)}, grpc::Status::OK);
  Result r = RunCli(With({"watch", "t1"}));
  EXPECT_EQ(r.code, kExitNegative);
  EXPECT_EQ(r.err, "tlctl: task t1 failed\n");
}

TEST_F(TlctlFakeGatewayTest, WatchThatEndsEarlyIsAFailure) {
  fake_.SetWatch({tltest::Event("t1", gw::TASK_STATUS_INDEXING, "indexing", 1)}, grpc::Status::OK);
  Result r = RunCli(With({"watch", "t1"}));
  EXPECT_EQ(r.code, kExitCallFailed);
  EXPECT_TRUE(absl::StrContains(r.err, "last status: indexing")) << r.err;

  fake_.SetWatch({}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone"));
  r = RunCli(With({"watch", "t1"}));
  EXPECT_EQ(r.code, kExitCallFailed);
  EXPECT_EQ(r.err, "tlctl: UNAVAILABLE: gone\n");
}

TEST_F(TlctlFakeGatewayTest, WatchJsonIsOneEventPerLine) {
  fake_.SetWatch({tltest::Event("t1", gw::TASK_STATUS_PENDING, "pending", 1),
                  tltest::Event("t1", gw::TASK_STATUS_READY, "ready", 2)},
                 grpc::Status::OK);
  Result r = RunCli(With({"watch", "t1", "--json"}));
  EXPECT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_TRUE(absl::StartsWith(lines[1], "{\"task\":{\"id\":\"t1\"")) << lines[1];
}

TEST_F(TlctlFakeGatewayTest, ErrorLineCarriesReasonAndUnimplementedGetsAHint) {
  fake_.SetCallStatus(tltest::StatusWithDetails(
      grpc::StatusCode::NOT_FOUND, "Twelve Labs API: no such task", "resource_not_exist"));
  Result r = RunCli(With({"get", "aaaaaaaaaaaaaaaaaaaaaaaa"}));
  EXPECT_EQ(r.code, kExitCallFailed);
  EXPECT_EQ(r.err,
            "tlctl: NOT_FOUND: Twelve Labs API: no such task (reason: resource_not_exist)\n");

  Result counts = RunCli(With({"integrations"}));  // the fake has no IntegrationService
  EXPECT_EQ(counts.code, kExitCallFailed);
  EXPECT_TRUE(absl::StrContains(counts.err, "does not serve 'integrations'")) << counts.err;
}

TEST_F(TlctlFakeGatewayTest, AddressFromTheEnvironment) {
  std::ostringstream out, err;
  Result r = RunCli({"get", "0123456789abcdef01234567"}, false, "", fake_.address());
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "STATUS      ready")) << r.out;
}

}  // namespace
}  // namespace tlclient
