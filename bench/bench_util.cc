#include "bench/bench_util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace tlbench {

absl::StatusOr<std::string> Runfile(const std::string& path, const char* argv0) {
  const std::string ws = "tl_gateway";
  std::vector<std::string> candidates;
  if (const char* d = std::getenv("RUNFILES_DIR"); d != nullptr && *d != '\0') {
    candidates.push_back(absl::StrCat(d, "/", ws, "/", path));
  }
  if (const char* d = std::getenv("TEST_SRCDIR"); d != nullptr && *d != '\0') {
    candidates.push_back(absl::StrCat(d, "/", ws, "/", path));
  }
  if (argv0 != nullptr && *argv0 != '\0') {
    candidates.push_back(absl::StrCat(argv0, ".runfiles/", ws, "/", path));
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    candidates.push_back(absl::StrCat(exe, ".runfiles/", ws, "/", path));
  }
  candidates.push_back(path);  // `bazel run` starts us in runfiles/tl_gateway
  for (const std::string& c : candidates) {
    if (access(c.c_str(), X_OK) == 0) {
      char* real = realpath(c.c_str(), nullptr);
      if (real == nullptr) return c;
      std::string r(real);
      free(real);
      return r;
    }
  }
  return absl::NotFoundError(absl::StrCat("runfile ", path, " not found; tried: ",
                                          absl::StrJoin(candidates, ", ")));
}

std::string BinaryOrExit(const std::string& flag, const std::string& path, const char* argv0) {
  if (!flag.empty()) return flag;
  auto found = Runfile(path, argv0);
  if (!found.ok()) {
    std::fprintf(stderr, "%s\n", found.status().ToString().c_str());
    std::exit(2);
  }
  return *found;
}

std::vector<std::string> GatewayOrDirectRunsOrExit(const std::string& flag) {
  std::vector<std::string> runs = absl::StrSplit(flag, ',', absl::SkipEmpty());
  for (const auto& r : runs) {
    if (r != "gateway" && r != "direct") {
      std::fprintf(stderr, "--runs: '%s' is neither gateway nor direct\n", r.c_str());
      std::exit(2);
    }
  }
  return runs;
}

absl::StatusOr<Server> StartServer(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
                                   const std::string& dir, const std::string& name) {
  const std::string port_file = absl::StrCat(dir, "/", name, ".port");
  argv.push_back("--port_file=" + port_file);
  Server server;
  auto process = ChildProcess::Start(argv, env, absl::StrCat(dir, "/", name, ".log"));
  if (!process.ok()) return absl::Status(process.status().code(), absl::StrCat(name, ": ", process.status().message()));
  server.process = *std::move(process);
  auto port = WaitForPortFile(port_file, server.process.get());
  if (!port.ok()) return absl::Status(port.status().code(), absl::StrCat(name, ": ", port.status().message()));
  server.port = *port;
  return server;
}

std::vector<std::string> SimulatorArgv(const std::string& sim_bin, const std::string& api_key, int threads) {
  return {sim_bin, "--listen=127.0.0.1:0", "--api_keys=" + api_key, "--manual_clock",
          absl::StrCat("--threads=", threads)};
}

void PrintReportHeader(const std::string& title, int argc, char** argv) {
  std::printf("# tl-gateway %s\n", title.c_str());
  std::printf("date:    %s\n", NowUtc().c_str());
  std::printf("machine: %s\n", MachineLine().c_str());
  std::printf("         (the benchmark client, the gateway and the simulator share these CPUs)\n");
  std::printf("command: %s\n", absl::StrJoin(std::vector<std::string>(argv, argv + argc), " ").c_str());
}

void RemoveOrKeepLogs(const std::string& dir, bool clean, bool keep_logs) {
  if (!clean || keep_logs) {
    std::printf("logs kept in %s\n", dir.c_str());
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

absl::StatusOr<std::string> MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/", prefix, "-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", templ, ": ", strerror(errno)));
  }
  return templ;
}

double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!in || !std::getline(in, line)) return -1;
  // The command name (field 2) is in parentheses and may hold spaces.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> f = absl::StrSplit(line.substr(close + 2), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (f.size() < 13) return -1;
  double utime = 0, stime = 0;
  if (!absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime)) return -1;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double MachineBusyCpuSeconds() {
  std::ifstream in("/proc/stat");
  std::string line;
  if (!in || !std::getline(in, line) || !absl::StartsWith(line, "cpu ")) return -1;
  std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
  // cpu user nice system idle iowait irq softirq steal ...
  if (f.size() < 9) return -1;
  double busy = 0;
  for (int i : {1, 2, 3, 6, 7, 8}) {
    double v = 0;
    if (absl::SimpleAtod(f[i], &v)) busy += v;
  }
  return busy / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool ProcessMapsContain(pid_t pid, const std::string& needle) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/maps"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

int OnlineCpus() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); }

std::string MachineLine() {
  std::string model = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  int logical = 0;
  while (std::getline(cpuinfo, line)) {
    if (absl::StartsWith(line, "processor")) ++logical;
    if (model == "unknown" && absl::StartsWith(line, "model name")) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) model = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  std::string kernel = "?";
  utsname u{};
  if (uname(&u) == 0) kernel = absl::StrCat(u.sysname, " ", u.release, " ", u.machine);
  double mem_gib = 0;
  std::ifstream meminfo("/proc/meminfo");
  while (std::getline(meminfo, line)) {
    if (absl::StartsWith(line, "MemTotal:")) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      double kb = 0;
      if (f.size() >= 2 && absl::SimpleAtod(f[1], &kb)) mem_gib = kb / (1024.0 * 1024.0);
    }
  }
  return absl::StrFormat("nproc=%d, cpu=%s (%d logical in /proc/cpuinfo), kernel=%s, mem=%.1f GiB",
                         OnlineCpus(), model, logical, kernel, mem_gib);
}

int CountTcpSockets(int state, int local_port, int remote_port) {
  int count = 0;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 4) continue;
      auto port_of = [](const std::string& addr) {
        size_t colon = addr.rfind(':');
        if (colon == std::string::npos) return -1;
        return static_cast<int>(std::strtol(addr.c_str() + colon + 1, nullptr, 16));
      };
      int st = static_cast<int>(std::strtol(f[3].c_str(), nullptr, 16));
      if (st != state) continue;
      if (local_port != 0 && port_of(f[1]) != local_port) continue;
      if (remote_port != 0 && port_of(f[2]) != remote_port) continue;
      ++count;
    }
  }
  return count;
}

int64_t Percentile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  if (rank < 1) rank = 1;
  if (rank > sorted.size()) rank = sorted.size();
  return sorted[rank - 1];
}

std::string NowUtc() {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::Now(), absl::UTCTimeZone());
}

}  // namespace tlbench
