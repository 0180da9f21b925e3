// More helpers for the benchmarks under bench/ (next to bench_util, which
// another benchmark owns): a process's memory from /proc, the file
// descriptor limit, plain HTTP calls to the simulator's control API and the
// gateway's admin port, and creating tasks directly on the simulator.
#ifndef TL_GATEWAY_BENCH_BENCH_SUPPORT_H_
#define TL_GATEWAY_BENCH_BENCH_SUPPORT_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tlbench {

// A field of /proc/PID/status in KiB ("VmRSS", "VmHWM"), or -1.
int64_t ProcStatusKib(pid_t pid, const std::string& field);
// Resets the process's VmHWM to its current VmRSS (writes 5 to
// /proc/PID/clear_refs). False when the kernel refused.
bool ResetPeakRss(pid_t pid);

// Raises this process's RLIMIT_NOFILE soft limit to the hard limit; returns
// the soft limit now in force.
int64_t RaiseFdLimit();
// Open file descriptors of a process (entries of /proc/PID/fd), or -1.
int CountOpenFds(pid_t pid);

struct HttpAnswer {
  int status = 0;  // 0: no answer (see error)
  std::string body;
  std::string error;
};

// One request on a fresh connection to 127.0.0.1:port. `body` is sent as
// application/json when non-empty (or for POST).
HttpAnswer HttpCall(int port, const std::string& method, const std::string& path,
                    const std::string& body = "", absl::Duration timeout = absl::Seconds(30));

// The value of the sample `name{labels}` in Prometheus text, or -1.
double MetricValue(const std::string& metrics, const std::string& name_and_labels);

// Creates a URL task directly on the simulator (POST /v1.3/tasks, multipart
// index_id + video_url) and returns its id.
absl::StatusOr<std::string> CreateUrlTaskOnSim(int sim_port, const std::string& api_key,
                                               const std::string& index_id, const std::string& video_url);

// "12.3" style fixed formatting helpers.
std::string FormatMs(double ms);

}  // namespace tlbench

#endif  // TL_GATEWAY_BENCH_BENCH_SUPPORT_H_
