// gRPC's socket-mutator interface, which gRPC 1.51 (Debian 12's) exports from
// libgrpc but declares only in an internal header
// (src/core/lib/iomgr/socket_mutator.h). Copied from that header, unchanged:
// the layout and the C++ signature of grpc_socket_mutator_init must match the
// library exactly. Re-check this file when moving to another gRPC release
// (newer ones also retry failed accepts themselves; see connection_limiter.h).
//
// Only connection_limiter.cc includes this.
#ifndef TL_GATEWAY_SERVER_LISTENER_GRPC_SOCKET_MUTATOR_ABI_H_
#define TL_GATEWAY_SERVER_LISTENER_GRPC_SOCKET_MUTATOR_ABI_H_

#include <grpc/grpc.h>
#include <grpc/support/sync.h>
#include <grpcpp/version_info.h>

// Core and C++ ship together; the core library exports no version macro.
#if GRPC_CPP_VERSION_MAJOR != 1 || GRPC_CPP_VERSION_MINOR != 51
#error "grpc_socket_mutator_abi.h matches gRPC 1.51 only: re-check it against this release"
#endif

typedef enum {
  GRPC_FD_CLIENT_CONNECTION_USAGE,
  GRPC_FD_SERVER_LISTENER_USAGE,
  GRPC_FD_SERVER_CONNECTION_USAGE,
} grpc_fd_usage;

typedef struct {
  int fd;
  grpc_fd_usage usage;
} grpc_mutate_socket_info;

struct grpc_socket_mutator_vtable {
  bool (*mutate_fd)(int fd, grpc_socket_mutator* mutator);
  int (*compare)(grpc_socket_mutator* a, grpc_socket_mutator* b);
  void (*destroy)(grpc_socket_mutator* mutator);
  bool (*mutate_fd_2)(const grpc_mutate_socket_info* info, grpc_socket_mutator* mutator);
};

struct grpc_socket_mutator {
  const grpc_socket_mutator_vtable* vtable;
  gpr_refcount refcount;
};

void grpc_socket_mutator_init(grpc_socket_mutator* mutator, const grpc_socket_mutator_vtable* vtable);

#endif  // TL_GATEWAY_SERVER_LISTENER_GRPC_SOCKET_MUTATOR_ABI_H_
