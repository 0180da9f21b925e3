#include "server/common/call_counter.h"

namespace tlgw {

class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(CallCounter* counter) : counter_(counter) { ++counter_->in_flight_; }
  ~CountingInterceptor() override { --counter_->in_flight_; }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override { methods->Proceed(); }

 private:
  CallCounter* const counter_;
};

namespace {

class CountingFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(CallCounter* counter) : counter_(counter) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo*) override {
    return new CountingInterceptor(counter_);
  }

 private:
  CallCounter* const counter_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> CallCounter::Factory() {
  return std::make_unique<CountingFactory>(this);
}

}  // namespace tlgw
