// tlctl's commands: parses a command line, calls the gateway through
// GatewayClient, and prints the answer. Everything the process environment
// provides (variables, whether stdout is a terminal, the clock, the output
// streams) comes in through CliEnvironment, so tests run whole commands
// in-process; only tlctl.cc reads the real environment.
//
// Never prints the bearer token: not in help, not in errors (a message that
// happens to contain it has it replaced).
#ifndef TL_GATEWAY_CLIENT_COMMANDS_H_
#define TL_GATEWAY_CLIENT_COMMANDS_H_

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tlclient {

// Exit codes.
inline constexpr int kExitOk = 0;
// A call failed (the gateway answered an error, or could not be reached),
// or a local file could not be read.
inline constexpr int kExitCallFailed = 1;
// The command line was wrong; nothing was sent.
inline constexpr int kExitUsage = 2;
// The call worked but the answer is "no": a watched task failed, or the S3
// setup check found errors. Scripts can tell this from a broken call.
inline constexpr int kExitNegative = 3;

// The gateway address when neither --addr nor TLGW_ADDR says otherwise.
inline constexpr char kDefaultAddress[] = "127.0.0.1:50051";

struct CliEnvironment {
  // $TLGW_ADDR and $TLGW_TOKEN; empty when unset.
  std::string address;
  std::string token;
  // Whether stdout / stderr are terminals: live progress and status lines
  // then, plain lines otherwise.
  bool stdout_is_terminal = false;
  bool stderr_is_terminal = false;
  // Not owned; must outlive RunTlctl.
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// Runs one tlctl command line (`args` without the program name) and
// returns the process exit code.
int RunTlctl(const std::vector<std::string>& args, const CliEnvironment& env);

}  // namespace tlclient

#endif  // TL_GATEWAY_CLIENT_COMMANDS_H_
