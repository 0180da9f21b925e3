// Small helpers that finish unary reactors from absl results.
#ifndef TL_GATEWAY_SERVER_SERVICES_REACTOR_UTIL_H_
#define TL_GATEWAY_SERVER_SERVICES_REACTOR_UTIL_H_

#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "server/common/status_details.h"

namespace tlgw {

inline grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

// A callback that copies an OK value into `*out` and finishes `reactor`.
// `out` is the response gRPC owns until Finish.
template <typename T>
auto FinishWith(grpc::ServerUnaryReactor* reactor, T* out) {
  return [reactor, out](absl::StatusOr<T> result) {
    if (result.ok()) *out = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  };
}

// A server stream that ends at once with `status` (a bad request).
template <typename T>
grpc::ServerWriteReactor<T>* FailedStream(const absl::Status& status) {
  class Failed : public grpc::ServerWriteReactor<T> {
   public:
    explicit Failed(const absl::Status& s) { this->Finish(ToGrpcStatus(s)); }
    void OnDone() override { delete this; }
  };
  return new Failed(status);
}

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_REACTOR_UTIL_H_
