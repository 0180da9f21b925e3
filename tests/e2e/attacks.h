// Hostile clients for the adversarial end-to-end tests, each bounded in
// count and time and on loopback only.
#ifndef TL_GATEWAY_TESTS_E2E_ATTACKS_H_
#define TL_GATEWAY_TESTS_E2E_ATTACKS_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace tltest {

// TCP connections to 127.0.0.1:`port` that send nothing; closed on
// destruction or Close(). Connections the server refuses or resets are
// counted as opened all the same (the server had to handle them).
class IdleConnections {
 public:
  IdleConnections(int port, int count);
  ~IdleConnections();
  void Close();
  int opened() const { return static_cast<int>(fds_.size()); }

 private:
  std::vector<int> fds_;
};

// HTTP/2 "rapid reset" (CVE-2023-44487): opens gRPC streams to `path` and
// resets each at once, never sending a request body, until `streams` were
// sent or `seconds` passed; when the server closes the connection, opens
// another.
struct RapidResetResult {
  int64_t streams = 0;
  int connections = 0;
};
RapidResetResult RapidReset(int port, const std::string& path, int64_t streams, double seconds);

// The resident memory of process `pid`, in bytes (0 if it is gone).
int64_t ResidentBytes(pid_t pid);
// The highest resident memory of process `pid` while this object lives,
// sampled every 20 ms on a thread of its own.
class PeakResident {
 public:
  explicit PeakResident(pid_t pid);
  ~PeakResident();
  int64_t Stop();  // stops sampling; the peak in bytes

 private:
  const pid_t pid_;
  std::atomic<int64_t> peak_;
  std::atomic<bool> sampling_{true};
  std::thread thread_;
};

// The number of descriptors process `pid` has open.
int OpenDescriptors(pid_t pid);

}  // namespace tltest

#endif  // TL_GATEWAY_TESTS_E2E_ATTACKS_H_
