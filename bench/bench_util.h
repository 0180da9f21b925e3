// Helpers shared by the programs under bench/: starting the gateway and the
// simulator as child processes, finding them in the runfiles, reading a
// process's CPU time, describing the machine, and latency percentiles.
//
// Deliberately independent of //tests/e2e:harness (which is testonly and
// evolves with the tests), so benchmarks are ordinary binaries.
#ifndef TL_GATEWAY_BENCH_BENCH_UTIL_H_
#define TL_GATEWAY_BENCH_BENCH_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tlbench {

// A child process whose stdout and stderr go to a log file. It gets SIGTERM
// if the benchmark dies first (PR_SET_PDEATHSIG), so no stray servers stay.
class ChildProcess {
 public:
  // Starts `argv` with `env` added to (and overriding) this environment.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
      const std::string& log_path);
  ~ChildProcess();  // Stop() if still running.

  pid_t pid() const { return pid_; }
  bool Running();
  // SIGTERM, then SIGKILL after `grace`. Returns the waitpid status, and
  // sets *killed when SIGKILL was needed.
  int Stop(absl::Duration grace = absl::Seconds(10), bool* killed = nullptr);
  // The last `max_bytes` of what it printed.
  std::string LogTail(size_t max_bytes = 4000) const;
  const std::string& log_path() const { return log_path_; }

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  std::optional<int> status_;
};

// "exited 0", "killed by signal 9", ...
std::string DescribeExit(int wait_status);

// The absolute path of a runfile given relative to the workspace root
// (e.g. "server/gateway"): tries $RUNFILES_DIR, $TEST_SRCDIR,
// argv0.runfiles, /proc/self/exe.runfiles and the current directory (which
// `bazel run` sets to the runfiles tree).
absl::StatusOr<std::string> Runfile(const std::string& path, const char* argv0);

// A fresh directory under $TMPDIR (or /tmp).
absl::StatusOr<std::string> MakeTempDir(const std::string& prefix);

// Waits until `path` holds a port number (the --port_file convention).
absl::StatusOr<int> WaitForPortFile(const std::string& path, ChildProcess* process,
                                    absl::Duration timeout = absl::Seconds(30));

// User + system CPU seconds of a process, from /proc/PID/stat (clock-tick
// resolution, usually 10 ms). Returns -1 when unreadable.
double ProcessCpuSeconds(pid_t pid);
// CPU seconds all processes on the machine have used (every CPU's non-idle
// time in /proc/stat), to tell how much else ran during a measurement.
double MachineBusyCpuSeconds();
// This process's CPU seconds (nanosecond resolution).
double SelfCpuSeconds();

// Whether /proc/PID/maps names a file containing `needle` (e.g. a preloaded
// library).
bool ProcessMapsContain(pid_t pid, const std::string& needle);

// "nproc=2, cpu=AMD EPYC (2 logical), kernel=Linux 6.1.0, mem=8.0 GiB"
std::string MachineLine();
int OnlineCpus();

// Sockets in /proc/net/tcp in TCP state `state` (1 = ESTABLISHED,
// 6 = TIME_WAIT) whose local port is `local_port` (0: any) and remote port
// is `remote_port` (0: any).
int CountTcpSockets(int state, int local_port, int remote_port);

// Nearest-rank percentile of sorted values; q in (0, 1].
int64_t Percentile(const std::vector<int64_t>& sorted, double q);

// Current UTC time as "2024-01-31 12:34:56 UTC".
std::string NowUtc();

}  // namespace tlbench

#endif  // TL_GATEWAY_BENCH_BENCH_UTIL_H_
