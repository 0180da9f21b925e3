#include "tests/support/postgres_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <mutex>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "postgresql/libpq-fe.h"

namespace tltest {
namespace {

constexpr char kSetpriv[] = "/usr/bin/setpriv";

// The directory of initdb and postgres: $TLGW_PG_BINDIR, else Debian's
// /usr/lib/postgresql/<major>/bin (the newest present).
absl::StatusOr<std::string> BinDir() {
  if (const char* env = std::getenv("TLGW_PG_BINDIR"); env != nullptr && *env != '\0') return std::string(env);
  std::string best;
  int best_major = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const int major = std::atoi(entry.path().filename().c_str());
    const std::string bin = entry.path().string() + "/bin";
    if (major > best_major && access((bin + "/postgres").c_str(), X_OK) == 0) {
      best_major = major;
      best = bin;
    }
  }
  if (best.empty()) {
    return absl::FailedPreconditionError(
        "no PostgreSQL server under /usr/lib/postgresql/*/bin: run scripts/setup.sh (installs postgresql-15), "
        "or set TLGW_PG_BINDIR");
  }
  return best;
}

bool IsRoot() { return geteuid() == 0; }

// As root, commands run as the `postgres` user (initdb refuses root).
std::vector<std::string> AsPostgres(std::vector<std::string> argv, bool kill_with_parent) {
  if (!IsRoot()) return argv;
  std::vector<std::string> wrapped = {kSetpriv, "--reuid=postgres", "--regid=postgres", "--clear-groups"};
  // Changing the uid clears a parent-death signal set before exec; setpriv
  // sets it again after the change.
  if (kill_with_parent) wrapped.push_back("--pdeathsig=SIGINT");
  // A working directory the postgres user can enter.
  wrapped.insert(wrapped.end(), {"/usr/bin/env", "--chdir=/"});
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

absl::StatusOr<std::string> MakeTempDir(const std::string& tag) {
  // Under /tmp even in a Bazel test: the postgres user must reach it
  // (TEST_TMPDIR lives below root's 0700 home), and the path stays short.
  std::string templ = absl::StrCat("/tmp/tlgw-pg-", tag, "-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", templ, ": ", strerror(errno)));
  }
  if (IsRoot()) {
    struct passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      std::filesystem::remove_all(templ);
      return absl::FailedPreconditionError(
          "running as root, but there is no `postgres` user to run the server as: install postgresql-15 "
          "(scripts/setup.sh)");
    }
    if (chown(templ.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", templ, ": ", strerror(errno)));
    }
  }
  return templ;
}

// Runs a command to completion; its output goes to `log`.
absl::Status Run(const std::vector<std::string>& argv, const std::string& log, absl::Duration timeout) {
  auto child = ChildProcess::Start(argv, {{"LC_ALL", "C"}}, log);
  if (!child.ok()) return child.status();
  std::optional<int> st = (*child)->WaitExit(timeout);
  if (!st) {
    (*child)->Stop(absl::Seconds(1));
    return absl::DeadlineExceededError(absl::StrCat(argv[0], " did not finish in ", absl::FormatDuration(timeout),
                                                    "; output:\n", (*child)->LogTail()));
  }
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    std::string cmd;
    for (const auto& a : argv) absl::StrAppend(&cmd, cmd.empty() ? "" : " ", a);
    return absl::InternalError(absl::StrCat("`", cmd, "` ", DescribeExit(*st), "; output:\n", (*child)->LogTail()));
  }
  return absl::OkStatus();
}

// initdb, once per binary; later servers copy its data directory.
struct Template {
  absl::once_flag once;
  absl::Status status;
  std::string dir;  // holds data/
};

Template& TheTemplate() {
  static Template* t = new Template;
  return *t;
}

void RemoveTemplate() {
  if (!TheTemplate().dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(TheTemplate().dir, ec);
  }
}

absl::Status MakeTemplate() {
  Template& t = TheTemplate();
  absl::call_once(t.once, [&t] {
    auto bin = BinDir();
    if (!bin.ok()) {
      t.status = bin.status();
      return;
    }
    auto dir = MakeTempDir("template");
    if (!dir.ok()) {
      t.status = dir.status();
      return;
    }
    t.dir = *dir;
    std::atexit(RemoveTemplate);
    t.status = Run(AsPostgres({*bin + "/initdb", "--no-sync", "-A", "trust", "-E", "UTF8", "--locale=C", "-U",
                               "postgres", "-D", t.dir + "/data"},
                              /*kill_with_parent=*/false),
                   t.dir + "/initdb.log", absl::Seconds(120));
  });
  return t.status;
}

absl::StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("bind: ", strerror(err)));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Create() {
  if (auto s = MakeTemplate(); !s.ok()) return s;
  auto dir = MakeTempDir("server");
  if (!dir.ok()) return dir.status();
  auto port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  auto server = std::unique_ptr<PostgresServer>(new PostgresServer(*dir, *port));
  // cp -a keeps the postgres user's ownership and the 0700 mode.
  if (auto s = Run({"/bin/cp", "-a", TheTemplate().dir + "/data", *dir + "/data"}, *dir + "/cp.log",
                   absl::Seconds(60));
      !s.ok()) {
    return s;
  }
  if (auto s = server->Start(); !s.ok()) return s;
  return server;
}

absl::StatusOr<PostgresServer*> PostgresServer::Shared() {
  static std::mutex mu;
  static std::unique_ptr<PostgresServer> shared;  // stopped by its destructor at exit
  std::lock_guard<std::mutex> lock(mu);
  if (shared == nullptr) {
    auto created = Create();
    if (!created.ok()) return created.status();
    shared = std::move(*created);
  }
  return shared.get();
}

PostgresServer::~PostgresServer() {
  Stop().IgnoreError();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

absl::Status PostgresServer::Start() {
  if (process_ != nullptr) return absl::OkStatus();
  auto bin = BinDir();
  if (!bin.ok()) return bin.status();
  auto child = ChildProcess::Start(
      AsPostgres({*bin + "/postgres", "-D", dir_ + "/data", "-c", "listen_addresses=127.0.0.1", "-c",
                  absl::StrCat("port=", port_), "-c", "unix_socket_directories=", "-c", "fsync=off", "-c",
                  "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"},
                 /*kill_with_parent=*/true),
      {{"LC_ALL", "C"}}, dir_ + "/postgres.log");
  if (!child.ok()) return child.status();
  process_ = std::move(*child);
  if (auto s = WaitReady(absl::Seconds(30)); !s.ok()) {
    Stop().IgnoreError();
    return s;
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::WaitReady(absl::Duration timeout) {
  const std::string conninfo = absl::StrCat(ConnInfo("postgres"), " connect_timeout=1");
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return absl::OkStatus();
    if (!process_->Running()) {
      return absl::InternalError(absl::StrCat("postgres exited before accepting connections; its log:\n", LogTail()));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat("postgres did not accept connections on port ", port_,
                                                  " within ", absl::FormatDuration(timeout), "; its log:\n",
                                                  LogTail()));
}

absl::Status PostgresServer::Stop() {
  if (process_ == nullptr) return absl::OkStatus();
  if (frozen_) Thaw().IgnoreError();  // a stopped process ignores SIGINT
  // SIGINT is the fast shutdown: sessions are ended, not waited for.
  kill(process_->pid(), SIGINT);
  absl::Status result = absl::OkStatus();
  if (!process_->WaitExit(absl::Seconds(30))) {
    bool killed = false;
    process_->Stop(absl::Seconds(2), &killed);
    result = absl::DeadlineExceededError("postgres ignored SIGINT for 30 s and was killed");
  }
  process_.reset();
  return result;
}

absl::Status PostgresServer::SignalAll(int signal) {
  if (process_ == nullptr) return absl::FailedPreconditionError("the server is not running");
  const pid_t postmaster = process_->pid();
  if (kill(postmaster, signal) != 0) return absl::InternalError(absl::StrCat("kill: ", strerror(errno)));
  // Its children (backends, background workers): field 4 of /proc/PID/stat
  // is the parent (the name before it is in parentheses, maybe with spaces).
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    pid_t pid = 0;
    if (!absl::SimpleAtoi(name, &pid)) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t parent = 0;
    rest >> state >> parent;
    if (parent == postmaster) kill(pid, signal);
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::Freeze() {
  frozen_ = true;
  return SignalAll(SIGSTOP);
}
absl::Status PostgresServer::Thaw() {
  frozen_ = false;
  return SignalAll(SIGCONT);
}

std::string PostgresServer::ConnInfo(const std::string& dbname) const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " dbname=", dbname, " user=postgres");
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase(const std::string& prefix) {
  std::string name;
  for (char c : prefix) {
    if (std::isalnum(static_cast<unsigned char>(c))) name += static_cast<char>(std::tolower(c));
    if (name.size() >= 40) break;
  }
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) name = "t" + name;
  absl::StrAppend(&name, "_", next_db_.fetch_add(1));
  const std::string admin = absl::StrCat(ConnInfo("postgres"), " connect_timeout=10");
  PGconn* conn = PQconnectdb(admin.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string err = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("connect to the test server: ", err));
  }
  PGresult* res = PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
  const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  std::string err = ok ? "" : PQresultErrorMessage(res);
  PQclear(res);
  PQfinish(conn);
  if (!ok) return absl::InternalError(absl::StrCat("CREATE DATABASE ", name, ": ", err));
  return ConnInfo(name);
}

std::string PostgresServer::LogTail(size_t max_bytes) const {
  std::string s;
  if (FILE* f = std::fopen((dir_ + "/postgres.log").c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
    std::fclose(f);
  }
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  return s;
}

}  // namespace tltest
