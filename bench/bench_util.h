// Helpers shared by the programs under bench/: starting the gateway and the
// simulator as child processes, finding them in the runfiles, reading a
// process's CPU time, describing the machine, and latency percentiles.
//
// Child processes come from //tests/support:child_process, which the
// end-to-end tests use too; //tests/e2e:harness is testonly and evolves
// with the tests, so benchmarks do not use it.
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
#include "tests/support/child_process.h"

namespace tlbench {

// Child processes (shared with the end-to-end tests).
using ChildProcess = ::tltest::ChildProcess;
using ::tltest::DescribeExit;
using ::tltest::WaitForPortFile;

// The absolute path of a runfile given relative to the workspace root
// (e.g. "server/gateway"): tries $RUNFILES_DIR, $TEST_SRCDIR,
// argv0.runfiles, /proc/self/exe.runfiles and the current directory (which
// `bazel run` sets to the runfiles tree).
absl::StatusOr<std::string> Runfile(const std::string& path, const char* argv0);

// The binary `flag` names if set, else the runfile `path`; prints why and
// exits with status 2 when neither is there.
std::string BinaryOrExit(const std::string& flag, const std::string& path, const char* argv0);

// The comma-separated paths of the upload benchmarks' --runs, each
// "gateway" or "direct"; prints why and exits with status 2 otherwise.
std::vector<std::string> GatewayOrDirectRunsOrExit(const std::string& flag);

// A server started as a child process on port 0.
struct Server {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
};
// Starts `argv` plus --port_file=DIR/NAME.port, logging to DIR/NAME.log, and
// waits for its port. Errors name `name`.
absl::StatusOr<Server> StartServer(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
                                   const std::string& dir, const std::string& name);
// The simulator's command line as every benchmark runs it: on a free
// loopback port, one API key, a manual clock, `threads` HTTP workers.
std::vector<std::string> SimulatorArgv(const std::string& sim_bin, const std::string& api_key, int threads);

// The first lines of every benchmark's report: "# tl-gateway <title>",
// then the date, the machine and the command line.
void PrintReportHeader(const std::string& title, int argc, char** argv);

// A fresh directory under $TMPDIR (or /tmp).
absl::StatusOr<std::string> MakeTempDir(const std::string& prefix);
// At the end of a run: removes `dir` and everything in it when the run was
// clean and logs are not wanted, else says where the servers' logs are.
void RemoveOrKeepLogs(const std::string& dir, bool clean, bool keep_logs);


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
