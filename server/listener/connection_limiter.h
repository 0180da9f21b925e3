// The gRPC listener's connection cap and the record of its listening
// sockets.
//
// gRPC 1.51 has no connection limit of its own, and when accept() fails (the
// process is out of file descriptors) its listener logs "Failed accept4" and
// never accepts again. The cap keeps connections below the file limit, so a
// connection flood cannot get there; the listening sockets are recorded so
// that, should accept fail anyway (other descriptors used up the room), the
// gateway can close the dead listener and start a new one on the same port
// (GatewayServer's listener watchdog).
//
// gRPC hands each accepted socket to a socket mutator before using it, and a
// mutator that says "no" kills the listener, so over the cap the limiter
// says "yes" and shuts the socket down instead: gRPC's first read sees the
// connection closed and drops it. The client gets UNAVAILABLE and retries.
#ifndef TL_GATEWAY_SERVER_LISTENER_CONNECTION_LIMITER_H_
#define TL_GATEWAY_SERVER_LISTENER_CONNECTION_LIMITER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tlgw {

class ConnectionLimiter {
 public:
  struct Stats {
    int64_t open = 0;      // connections accepted and not yet closed
    int64_t rejected = 0;  // connections closed at once because the cap was reached
  };

  explicit ConnectionLimiter(int max_connections);
  ConnectionLimiter(const ConnectionLimiter&) = delete;
  ConnectionLimiter& operator=(const ConnectionLimiter&) = delete;

  // Routes every socket a server built by `builder` accepts through Admit,
  // and records its listening sockets. `this` must outlive that server.
  void InstallOn(grpc::ServerBuilder* builder);

  // Whether an accepted connection may stay: true while fewer than the cap
  // are open (it is then counted until its descriptor is closed).
  bool Admit(int fd);
  // Records a listening socket of a server this limiter is installed on.
  void AddListener(int fd);
  // The listening sockets recorded since the last call, for the watchdog to
  // close when they stopped accepting.
  std::vector<int> TakeListeners();
  // Sets the accept queue of the listening sockets recorded so far (call
  // once the server listens). gRPC asks for the system's maximum (4096), and
  // its accept loop takes a whole queue at once: every connection in it holds
  // a descriptor until gRPC has seen it closed, cap or no cap. A short queue
  // bounds that burst; connections beyond it wait in the client's SYN retries.
  void SetBacklog(int backlog);

  int max_connections() const { return max_; }
  Stats stats();

  // A server interceptor that counts each connection's calls in flight and
  // closes a connection that has more than `max_calls` (HTTP/2 "rapid
  // reset", CVE-2023-44487): a client that opens streams and resets them at
  // once stays within SETTINGS_MAX_CONCURRENT_STREAMS, but every reset
  // stream still becomes a call the server must set up and tear down, and
  // gRPC 1.51 queues that work without bound (2 GB in 10 s, measured). A
  // compliant client cannot have more calls in flight than the streams it
  // may open, so `max_calls` is that limit plus a margin.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> CallGuard(int max_calls);
  // Connections closed by the call guard.
  int64_t abusive_closed();

  // Called by the call guard; public for its interceptor.
  void CallStarted(const std::string& peer, int max_calls);
  void CallEnded(const std::string& peer);

 private:
  // Forgets connections whose descriptor was closed: the descriptor is gone,
  // or its number now names another socket (another inode).
  void PruneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_;
  absl::Mutex mu_;
  // Open connections: descriptor -> the socket's (device, inode) when
  // accepted.
  absl::flat_hash_map<int, std::pair<dev_t, ino_t>> open_ ABSL_GUARDED_BY(mu_);
  std::vector<int> listeners_ ABSL_GUARDED_BY(mu_);
  int64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  // Shuts down the open connection whose peer address is `peer` (gRPC's
  // form, "ipv4:1.2.3.4:5678" or "ipv6:[::1]:5678").
  void ShutdownPeerLocked(const std::string& peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::flat_hash_map<std::string, int> calls_by_peer_ ABSL_GUARDED_BY(mu_);
  int64_t abusive_closed_ ABSL_GUARDED_BY(mu_) = 0;
  // Pruning costs one fstat per open connection: at the cap, during a
  // flood, at most once per kPruneEvery rather than once per accept (real
  // time: this runs inside gRPC's accept path).
  absl::Time last_prune_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_LISTENER_CONNECTION_LIMITER_H_
