#include "server/common/call_counter.h"

#include <atomic>
#include <string>

#include "absl/time/clock.h"

namespace tlgw {

class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  CountingInterceptor(CallCounter* counter, const char* method)
      : counter_(counter), method_(method != nullptr ? method : ""), start_(absl::Now()) {
    ++counter_->in_flight_;
  }
  ~CountingInterceptor() override {
    --counter_->in_flight_;
    if (!recorded_) Record(static_cast<int>(grpc::StatusCode::CANCELLED));  // no status sent: cut off
  }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      // Recorded before the status leaves, not when gRPC destroys the call
      // later: a caller that has its answer finds the call in /metrics.
      Record(static_cast<int>(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  void Record(int code) {
    recorded_ = true;
    if (counter_->metrics_ != nullptr) counter_->metrics_->RecordGrpc(method_, code, absl::Now() - start_);
  }

  CallCounter* const counter_;
  const std::string method_;
  const absl::Time start_;
  std::atomic<bool> recorded_{false};
};

namespace {

class CountingFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(CallCounter* counter) : counter_(counter) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new CountingInterceptor(counter_, info->method());
  }

 private:
  CallCounter* const counter_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> CallCounter::Factory() {
  return std::make_unique<CountingFactory>(this);
}

}  // namespace tlgw
