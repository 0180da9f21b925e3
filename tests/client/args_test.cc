// The subcommand parser: global options anywhere, --name=value and
// --name value, flags, repeats, help forms, and the usage errors.
#include "client/args.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace tlclient {
namespace {

class ArgsTest : public ::testing::Test {
 protected:
  ArgsTest() {
    global_ = {{"addr", "HOST:PORT", "address"}, {"verbose", "", "more output"}};
    commands_ = {
        {"get", "TASK_ID", "Show a task.", "", 1, 1, {{"json", "", "as JSON"}}},
        {"list",
         "",
         "List tasks.",
         "",
         0,
         0,
         {{"index", "ID", "index"}, {"status", "S", "states", false, /*repeated=*/true}}},
        {"counts", "", "Count.", "", 0, 0, {{"index", "ID", "index", /*required=*/true}}},
    };
  }
  absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> args) {
    return ParseArgs(global_, commands_, args);
  }
  std::string Error(std::vector<std::string> args) {
    auto parsed = Parse(std::move(args));
    EXPECT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(parsed.status().message());
  }

  std::vector<OptionSpec> global_;
  std::vector<CommandSpec> commands_;
};

TEST_F(ArgsTest, CommandPositionalAndOptions) {
  auto p = Parse({"get", "abc", "--json"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->command, "get");
  EXPECT_EQ(p->positional, std::vector<std::string>{"abc"});
  EXPECT_TRUE(p->Has("json"));
  EXPECT_FALSE(p->help);
}

TEST_F(ArgsTest, GlobalOptionsBeforeAndAfterTheCommand) {
  auto p = Parse({"--addr", "h:1", "get", "--verbose", "abc", "--addr=h:2"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->Get("addr"), "h:2");  // the last one wins
  EXPECT_TRUE(p->Has("verbose"));
  EXPECT_EQ(p->positional, std::vector<std::string>{"abc"});
}

TEST_F(ArgsTest, ValuesInBothFormsAndRepeats) {
  auto p = Parse({"list", "--index=i1", "--status", "ready,failed", "--status=indexing"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->Get("index"), "i1");
  EXPECT_EQ(p->GetAll("status"), (std::vector<std::string>{"ready,failed", "indexing"}));
  EXPECT_EQ(p->Get("missing", "fallback"), "fallback");
  EXPECT_TRUE(p->GetAll("missing").empty());
}

TEST_F(ArgsTest, AValueMayStartWithADash) {
  auto p = Parse({"list", "--index", "-x"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->Get("index"), "-x");
}

TEST_F(ArgsTest, DoubleDashEndsOptions) {
  auto p = Parse({"get", "--", "--json"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->positional, std::vector<std::string>{"--json"});
  EXPECT_FALSE(p->Has("json"));
}

TEST_F(ArgsTest, HelpForms) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"}, {"-h"}, {"help"}}) {
    auto p = Parse(args);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_TRUE(p->help);
    EXPECT_TRUE(p->command.empty());
  }
  for (std::vector<std::string> args :
       {std::vector<std::string>{"get", "--help"}, {"help", "get"}, {"get", "-h"}}) {
    auto p = Parse(args);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_TRUE(p->help);
    EXPECT_EQ(p->command, "get");
  }
  // Help skips the checks: `get --help` needs no TASK_ID.
  EXPECT_TRUE(Parse({"counts", "--help"}).ok());
}

TEST_F(ArgsTest, NoCommandIsNotAnError) {
  auto p = Parse({"--addr", "h:1"});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->command.empty());
}

TEST_F(ArgsTest, UsageErrors) {
  EXPECT_EQ(Error({"frobnicate"}), "unknown command 'frobnicate'");
  EXPECT_EQ(Error({"get"}), "'get' needs TASK_ID");
  EXPECT_EQ(Error({"get", "a", "b"}), "unexpected argument 'b' for 'get'");
  EXPECT_EQ(Error({"get", "a", "--index", "x"}), "unknown option --index for 'get'");
  EXPECT_EQ(Error({"--json", "get", "a"}),
            "unknown option --json (command options go after the command)");
  EXPECT_EQ(Error({"list", "--index"}), "--index needs a value (ID)");
  EXPECT_EQ(Error({"get", "a", "--json=yes"}), "--json takes no value");
  EXPECT_EQ(Error({"get", "a", "-j"}), "unknown option '-j' (options are long: --name)");
  EXPECT_EQ(Error({"counts"}), "'counts' needs --index ID");
}

TEST_F(ArgsTest, UsageTextComesFromTheSpec) {
  std::string tool = ToolUsage("tool", "Does things.", commands_, global_);
  EXPECT_TRUE(absl::StrContains(tool, "usage: tool [global options] COMMAND")) << tool;
  EXPECT_TRUE(absl::StrContains(tool, "  get     Show a task.\n")) << tool;
  EXPECT_TRUE(absl::StrContains(tool, "--addr HOST:PORT  address")) << tool;
  std::string cmd = CommandUsage("tool", commands_[2], global_);
  EXPECT_TRUE(absl::StrContains(cmd, "usage: tool counts [options]")) << cmd;
  EXPECT_TRUE(absl::StrContains(cmd, "--index ID  (required) index")) << cmd;
  std::string list = CommandUsage("tool", commands_[1], global_);
  EXPECT_TRUE(absl::StrContains(list, "--status S  states (repeatable)")) << list;
}

TEST_F(ArgsTest, TwoWordCommands) {
  commands_.push_back({"asset upload", "FILE", "Upload.", "", 1, 1, {{"watch", "", "watch"}}});
  auto p = Parse({"--addr", "x:1", "asset", "upload", "f.mp4", "--watch"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->command, "asset upload");
  EXPECT_EQ(p->positional, std::vector<std::string>{"f.mp4"});
  EXPECT_TRUE(p->Has("watch"));
  EXPECT_TRUE(absl::StrContains(Error({"asset"}), "'asset' needs a command: upload"));
  EXPECT_TRUE(absl::StrContains(Error({"asset", "frobnicate"}), "unknown command 'asset frobnicate'"));
}

}  // namespace
}  // namespace tlclient
