// Counts gRPC calls in flight, through a server interceptor: gRPC creates
// one interceptor per call and destroys it when the call is over, so the
// count is exact for unary and streaming calls alike without touching any
// handler. Shutdown uses it to drain: it waits for the count to reach zero
// instead of for clients to hang up their idle connections.
#ifndef TL_GATEWAY_SERVER_COMMON_CALL_COUNTER_H_
#define TL_GATEWAY_SERVER_COMMON_CALL_COUNTER_H_

#include <atomic>
#include <memory>

#include <grpcpp/support/server_interceptor.h>

#include "server/common/metrics.h"

namespace tlgw {

class CallCounter {
 public:
  // `metrics`, when set, gets every call's method, code and latency.
  explicit CallCounter(RequestMetrics* metrics = nullptr) : metrics_(metrics) {}
  int64_t in_flight() const { return in_flight_.load(); }
  // A factory to hand to ServerBuilder; `this` must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Factory();

 private:
  friend class CountingInterceptor;
  std::atomic<int64_t> in_flight_{0};
  RequestMetrics* const metrics_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_CALL_COUNTER_H_
