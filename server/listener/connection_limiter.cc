#include "server/listener/connection_limiter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <utility>

#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "server/common/log.h"
#include "server/listener/grpc_socket_mutator_abi.h"

namespace tlgw {

namespace {

constexpr absl::Duration kPruneEvery = absl::Milliseconds(10);

// A grpc_socket_mutator whose state is the limiter. gRPC owns it by
// reference count and calls destroy when the last server using it is gone.
struct LimiterMutator {
  grpc_socket_mutator base;  // first: gRPC hands back &base
  ConnectionLimiter* limiter;
};
static_assert(std::is_standard_layout<LimiterMutator>::value, "base must be at offset 0");

bool MutateFd(const grpc_mutate_socket_info* info, grpc_socket_mutator* m) {
  ConnectionLimiter* limiter = reinterpret_cast<LimiterMutator*>(m)->limiter;
  switch (info->usage) {
    case GRPC_FD_SERVER_CONNECTION_USAGE:
      // Never false: that would stop gRPC's listener for good.
      if (!limiter->Admit(info->fd)) shutdown(info->fd, SHUT_RDWR);
      return true;
    case GRPC_FD_SERVER_LISTENER_USAGE:
      limiter->AddListener(info->fd);
      return true;
    default:
      return true;
  }
}

bool MutateFdOld(int, grpc_socket_mutator*) { return true; }  // unused: mutate_fd_2 takes precedence

int Compare(grpc_socket_mutator* a, grpc_socket_mutator* b) { return a < b ? -1 : (a > b ? 1 : 0); }

void Destroy(grpc_socket_mutator* m) { delete reinterpret_cast<LimiterMutator*>(m); }

const grpc_socket_mutator_vtable kVtable = {&MutateFdOld, &Compare, &Destroy, &MutateFd};

class LimiterOption : public grpc::ServerBuilderOption {
 public:
  explicit LimiterOption(ConnectionLimiter* limiter) : limiter_(limiter) {}
  void UpdateArguments(grpc::ChannelArguments* args) override {
    auto* m = new LimiterMutator{{}, limiter_};
    grpc_socket_mutator_init(&m->base, &kVtable);
    args->SetSocketMutator(&m->base);  // the arguments take the reference
  }
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*) override {}

 private:
  ConnectionLimiter* const limiter_;
};

class CallGuardInterceptor : public grpc::experimental::Interceptor {
 public:
  CallGuardInterceptor(ConnectionLimiter* limiter, std::string peer, int max_calls)
      : limiter_(limiter), peer_(std::move(peer)) {
    limiter_->CallStarted(peer_, max_calls);
  }
  ~CallGuardInterceptor() override { limiter_->CallEnded(peer_); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override { methods->Proceed(); }

 private:
  ConnectionLimiter* const limiter_;
  const std::string peer_;
};

class CallGuardFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  CallGuardFactory(ConnectionLimiter* limiter, int max_calls) : limiter_(limiter), max_calls_(max_calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new CallGuardInterceptor(limiter_, info->server_context()->peer(), max_calls_);
  }

 private:
  ConnectionLimiter* const limiter_;
  const int max_calls_;
};

// gRPC's form of a socket's peer address: "ipv4:1.2.3.4:5678" (also for an
// IPv4-mapped IPv6 address) or "ipv6:[::1]:5678".
std::string PeerOf(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  char host[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return absl::StrCat("ipv4:", host, ":", ntohs(a->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, sizeof(host));
      return absl::StrCat("ipv4:", host, ":", ntohs(a->sin6_port));
    }
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    return absl::StrCat("ipv6:[", host, "]:", ntohs(a->sin6_port));
  }
  return "";
}

// gRPC may percent-encode the brackets of an IPv6 peer.
std::string NormalizedPeer(std::string peer) {
  return absl::StrReplaceAll(peer, {{"%5B", "["}, {"%5D", "]"}});
}

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> ConnectionLimiter::CallGuard(
    int max_calls) {
  return std::make_unique<CallGuardFactory>(this, max_calls);
}

void ConnectionLimiter::CallStarted(const std::string& peer, int max_calls) {
  absl::MutexLock lock(&mu_);
  int& n = calls_by_peer_[peer];
  if (++n == max_calls + 1) ShutdownPeerLocked(peer);  // once per connection
}

void ConnectionLimiter::CallEnded(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  auto it = calls_by_peer_.find(peer);
  if (it != calls_by_peer_.end() && --it->second <= 0) calls_by_peer_.erase(it);
}

int64_t ConnectionLimiter::abusive_closed() {
  absl::MutexLock lock(&mu_);
  return abusive_closed_;
}

void ConnectionLimiter::ShutdownPeerLocked(const std::string& peer) {
  const std::string wanted = NormalizedPeer(peer);
  for (const auto& [fd, id] : open_) {
    struct stat st {};
    if (fstat(fd, &st) != 0 || std::make_pair(st.st_dev, st.st_ino) != id) continue;
    if (PeerOf(fd) == wanted) {
      shutdown(fd, SHUT_RDWR);  // gRPC sees the connection end and cancels its calls
      ++abusive_closed_;
      Log(LogLevel::kWarning, "listener",
          "closed a connection with more calls in flight than it may open streams (HTTP/2 rapid reset?)",
          {{"peer", BoundedLogValue(peer)}});
      return;
    }
  }
}

ConnectionLimiter::ConnectionLimiter(int max_connections) : max_(max_connections) {}

void ConnectionLimiter::InstallOn(grpc::ServerBuilder* builder) {
  builder->SetOption(std::make_unique<LimiterOption>(this));
}

bool ConnectionLimiter::Admit(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return false;
  absl::MutexLock lock(&mu_);
  if (static_cast<int64_t>(open_.size()) >= max_ && absl::Now() - last_prune_ >= kPruneEvery) {
    PruneLocked();
  }
  // The number may still be recorded for a closed connection (not pruned
  // yet): the new socket replaces it.
  open_.erase(fd);
  if (static_cast<int64_t>(open_.size()) >= max_) {
    ++rejected_;
    return false;
  }
  open_[fd] = {st.st_dev, st.st_ino};
  return true;
}

void ConnectionLimiter::AddListener(int fd) {
  absl::MutexLock lock(&mu_);
  listeners_.push_back(fd);
}

std::vector<int> ConnectionLimiter::TakeListeners() {
  absl::MutexLock lock(&mu_);
  return std::exchange(listeners_, {});
}

void ConnectionLimiter::SetBacklog(int backlog) {
  absl::MutexLock lock(&mu_);
  for (int fd : listeners_) listen(fd, backlog);  // on a listening socket, changes only the queue
}

ConnectionLimiter::Stats ConnectionLimiter::stats() {
  absl::MutexLock lock(&mu_);
  PruneLocked();
  return Stats{static_cast<int64_t>(open_.size()), rejected_};
}

void ConnectionLimiter::PruneLocked() {
  last_prune_ = absl::Now();
  for (auto it = open_.begin(); it != open_.end();) {
    struct stat st {};
    if (fstat(it->first, &st) != 0 || std::make_pair(st.st_dev, st.st_ino) != it->second) {
      open_.erase(it++);
    } else {
      ++it;
    }
  }
}

}  // namespace tlgw
