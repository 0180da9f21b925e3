// A child process for end-to-end tests and benchmarks: the real gateway,
// simulator or tlctl binary, its stdout and stderr in a log file, stopped
// with SIGTERM (SIGKILL after a grace period). It gets SIGTERM if the thread
// that started it dies first (PR_SET_PDEATHSIG), so a crashed test or
// benchmark leaves no stray servers. Every wait has a timeout, so a hang is
// a failure, not a stuck CI.
//
// Not testonly: the benchmarks under bench/ are ordinary binaries.
#ifndef TL_GATEWAY_TESTS_SUPPORT_CHILD_PROCESS_H_
#define TL_GATEWAY_TESTS_SUPPORT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tltest {

class ChildProcess {
 public:
  // Starts `argv` with `env` added to (and overriding) this environment.
  // stdout and stderr are appended to `log_path`; stdin is /dev/null.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
      const std::string& log_path);
  ~ChildProcess();  // Stop() if still running.
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  // SIGTERM, then SIGKILL after `grace`. Returns the exit status as waitpid
  // reports it, and sets *killed when SIGKILL was needed.
  int Stop(absl::Duration grace = absl::Seconds(10), bool* killed = nullptr);
  // Waits for the process to end by itself; nullopt on timeout.
  std::optional<int> WaitExit(absl::Duration timeout);
  // What it has printed so far, or only the last `max_bytes` of it.
  std::string Log() const;
  std::string LogTail(size_t max_bytes = 4000) const;
  const std::string& log_path() const { return log_path_; }

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  std::optional<int> status_;
};

// "exited 0", "killed by signal 9 (Killed)", ...
std::string DescribeExit(int wait_status);

// Waits until `path` holds a port number (the --port_file convention). Fails
// with the process's output if it exits first or the time runs out.
absl::StatusOr<int> WaitForPortFile(const std::string& path, ChildProcess* process,
                                    absl::Duration timeout = absl::Seconds(30));

}  // namespace tltest

#endif  // TL_GATEWAY_TESTS_SUPPORT_CHILD_PROCESS_H_
