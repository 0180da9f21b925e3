// Child processes for end-to-end tests: the real gateway and simulator
// binaries, started on port 0 with a port file, output kept in a log file,
// stopped with SIGTERM (SIGKILL after a timeout). Every wait has a timeout
// so a hang is a test failure, not a stuck CI.
#ifndef TL_GATEWAY_TESTS_E2E_PROCESS_H_
#define TL_GATEWAY_TESTS_E2E_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tltest {

class Process {
 public:
  // Starts `argv` with `env` added to (and overriding) this environment.
  // stdout and stderr go to `log_path`.
  static absl::StatusOr<std::unique_ptr<Process>> Start(
      const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
      const std::string& log_path);
  ~Process();  // Stop() if still running.

  pid_t pid() const { return pid_; }
  // SIGTERM, then SIGKILL after `grace`; returns the exit status as
  // waitpid reports it.
  int Stop(absl::Duration grace = absl::Seconds(10));
  // Waits for the process to end by itself.
  std::optional<int> WaitExit(absl::Duration timeout);
  bool Running();
  std::string Log() const;  // what it has printed so far

 private:
  Process(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  std::optional<int> status_;
};

// A fresh path under the test's temporary directory.
std::string TempPath(const std::string& name);
// The path of a runfile, e.g. "server/gateway".
std::string Runfile(const std::string& path);
// Waits until `path` holds a port number.
absl::StatusOr<int> WaitForPortFile(const std::string& path, Process* process,
                                    absl::Duration timeout = absl::Seconds(30));

}  // namespace tltest

#endif  // TL_GATEWAY_TESTS_E2E_PROCESS_H_
