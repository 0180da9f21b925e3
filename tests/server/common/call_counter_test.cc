// The call counter's interceptor on a real gRPC server: a call is in the
// metrics by the time its caller has the status, even while gRPC still
// holds the call (here: its server context is still alive).
#include "server/common/call_counter.h"

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "server/common/metrics.h"

namespace tlgw {
namespace {

constexpr char kMethod[] = "/test.Service/Do";

void* Tag(intptr_t i) { return reinterpret_cast<void*>(i); }

// Waits for the next event of `cq` and says whether it is `tag`, completed.
bool Next(grpc::CompletionQueue* cq, void* tag) {
  void* got = nullptr;
  bool ok = false;
  return cq->Next(&got, &ok) && ok && got == tag;
}

TEST(CallCounterTest, ACallIsInTheMetricsOnceItsCallerHasTheStatus) {
  RequestMetrics metrics([](absl::string_view m) { return m == kMethod; });
  CallCounter counter(&metrics);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  grpc::AsyncGenericService generic;
  builder.RegisterAsyncGenericService(&generic);
  std::unique_ptr<grpc::ServerCompletionQueue> scq = builder.AddCompletionQueue();
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(counter.Factory());
  builder.experimental().SetInterceptorCreators(std::move(factories));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  // The server context (and with it the call's interceptors) lives on
  // until the end of the test.
  auto sctx = std::make_unique<grpc::GenericServerContext>();
  auto stream = std::make_unique<grpc::GenericServerAsyncReaderWriter>(sctx.get());
  generic.RequestCall(sctx.get(), stream.get(), scq.get(), scq.get(), Tag(1));

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext cctx;
  grpc::CompletionQueue ccq;
  grpc::ByteBuffer request, response;
  auto call = stub.PrepareUnaryCall(&cctx, kMethod, request, &ccq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, Tag(2));

  ASSERT_TRUE(Next(scq.get(), Tag(1)));
  stream->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such thing"), Tag(3));
  ASSERT_TRUE(Next(scq.get(), Tag(3)));
  ASSERT_TRUE(Next(&ccq, Tag(2)));
  ASSERT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  std::string text;
  metrics.Render(&text);
  EXPECT_TRUE(absl::StrContains(
      text, "tl_gateway_grpc_calls_total{method=\"/test.Service/Do\",code=\"NOT_FOUND\"} 1"))
      << text;
  EXPECT_EQ(counter.in_flight(), 1) << "the call is still held: in flight until gRPC lets go";

  server->Shutdown(std::chrono::system_clock::now());
  scq->Shutdown();
  void* tag;
  bool ok;
  while (scq->Next(&tag, &ok)) {
  }
  stream.reset();
  sctx.reset();
  EXPECT_EQ(counter.in_flight(), 0);
  std::string after;
  metrics.Render(&after);
  EXPECT_FALSE(absl::StrContains(after, "code=\"CANCELLED\"")) << "counted once, with the status sent";
  ccq.Shutdown();
  while (ccq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace tlgw
