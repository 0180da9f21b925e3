// This process's connected sockets, found by local port through
// /proc/self/fd. For the cpp-httplib servers (webhook receiver, simulator):
// httplib 0.11 neither exposes its connections nor hands a handler its
// socket. Shared by the gateway and the simulator, so it lives outside both.
#ifndef TL_GATEWAY_COMMON_CONNECTIONS_H_
#define TL_GATEWAY_COMMON_CONNECTIONS_H_

#include "absl/functional/function_ref.h"

namespace tlgw {

// Calls `fn(fd, peer_port)` for every connected socket of this process
// whose local port is `local_port` (not the listener).
void ForEachConnection(int local_port, absl::FunctionRef<void(int fd, int peer_port)> fn);

// Shuts down, both ways, every connected socket on `local_port`. An idle
// keep-alive connection would otherwise hold a worker thread (and the
// server's stop) for the whole keep-alive timeout. Call after the listener
// is closed, so that no new connection appears meanwhile.
void ShutdownConnections(int local_port);

}  // namespace tlgw

#endif  // TL_GATEWAY_COMMON_CONNECTIONS_H_
