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

extern char** environ;

namespace tlbench {

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
    const std::string& log_path) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  // Everything the child needs is prepared before fork(): after it, in a
  // multi-threaded parent, the child may only make async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("open ", log_path, ": ", strerror(errno)));
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(err)));
  }
  if (pid == 0) {
    // Child: SIGTERM when the benchmark's (forking) thread dies.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    if (null_fd >= 0) dup2(null_fd, 0);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (!status_) Stop();
}

bool ChildProcess::Running() {
  if (status_) return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = st;
    return false;
  }
  return true;
}

int ChildProcess::Stop(absl::Duration grace, bool* killed) {
  if (killed != nullptr) *killed = false;
  if (status_) return *status_;
  kill(pid_, SIGTERM);
  absl::Time end = absl::Now() + grace;
  while (Running()) {
    if (absl::Now() > end) {
      kill(pid_, SIGKILL);
      int st = 0;
      waitpid(pid_, &st, 0);
      status_ = st;
      if (killed != nullptr) *killed = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return *status_;
}

std::string ChildProcess::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  return s;
}

std::string DescribeExit(int st) {
  if (WIFEXITED(st)) return absl::StrCat("exited ", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return absl::StrCat("killed by signal ", WTERMSIG(st), " (", strsignal(WTERMSIG(st)), ")");
  return absl::StrCat("wait status ", st);
}

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

absl::StatusOr<std::string> MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/", prefix, "-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", templ, ": ", strerror(errno)));
  }
  return templ;
}

absl::StatusOr<int> WaitForPortFile(const std::string& path, ChildProcess* process,
                                    absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    std::ifstream in(path);
    std::string text;
    int port = 0;
    if (in && std::getline(in, text) && absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) &&
        port > 0) {
      return port;
    }
    if (!process->Running()) {
      return absl::InternalError(absl::StrCat("process exited before serving; its output:\n",
                                              process->LogTail()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("no port in ", path, " after ",
                                                  absl::FormatDuration(timeout), "; output:\n",
                                                  process->LogTail()));
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
