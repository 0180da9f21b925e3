#include "server/listener/connection_limiter.h"

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/listener/grpc_log_bridge.h"

namespace tlgw {
namespace {

// A connected socket (one end of a pair) the test owns.
struct Socket {
  Socket() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    fd = fds[0];
    peer = fds[1];
  }
  ~Socket() { Close(); }
  void Close() {
    if (fd >= 0) close(fd);
    if (peer >= 0) close(peer);
    fd = peer = -1;
  }
  int fd = -1, peer = -1;
};

TEST(ConnectionLimiterTest, AdmitsUpToTheCapAndCountsTheRest) {
  ConnectionLimiter limiter(2);
  Socket a, b, c;
  EXPECT_TRUE(limiter.Admit(a.fd));
  EXPECT_TRUE(limiter.Admit(b.fd));
  EXPECT_FALSE(limiter.Admit(c.fd));
  ConnectionLimiter::Stats st = limiter.stats();
  EXPECT_EQ(st.open, 2);
  EXPECT_EQ(st.rejected, 1);
}

TEST(ConnectionLimiterTest, AClosedConnectionFreesItsPlace) {
  ConnectionLimiter limiter(1);
  Socket a;
  ASSERT_TRUE(limiter.Admit(a.fd));
  a.Close();
  Socket b;
  EXPECT_TRUE(limiter.Admit(b.fd));
  EXPECT_EQ(limiter.stats().open, 1);
}

TEST(ConnectionLimiterTest, ADescriptorNumberReusedByAnotherSocketIsNotTakenForTheOldConnection) {
  ConnectionLimiter limiter(2);
  Socket a;
  ASSERT_TRUE(limiter.Admit(a.fd));
  const int number = a.fd;
  a.Close();
  // Something else (say an upstream socket) now has the same number.
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  if (fds[0] != number) dup2(fds[0], number), close(fds[0]);
  EXPECT_EQ(limiter.stats().open, 0) << "the connection that had descriptor " << number << " is gone";
  close(number);
  close(fds[1]);
}

TEST(ConnectionLimiterTest, TakeListenersHandsEachListenerOverOnce) {
  ConnectionLimiter limiter(1);
  limiter.AddListener(7);
  limiter.AddListener(9);
  EXPECT_EQ(limiter.TakeListeners(), (std::vector<int>{7, 9}));
  EXPECT_TRUE(limiter.TakeListeners().empty());
}

// A real gRPC server with the limiter installed: no service, so every call
// answers UNIMPLEMENTED, which proves its connection was accepted and served.
class LimitedServerTest : public ::testing::Test {
 protected:
  void StartServer(int max_connections) {
    limiter_ = std::make_unique<ConnectionLimiter>(max_connections);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterAsyncGenericService(&generic_);  // keeps unknown calls unanswered by default
    cq_ = builder.AddCompletionQueue();
    limiter_->InstallOn(&builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    if (cq_ != nullptr) {
      cq_->Shutdown();
      void* tag;
      bool ok;
      while (cq_->Next(&tag, &ok)) {
      }
    }
  }
  // A channel of its own (its own connection): channels with equal
  // arguments would share one.
  std::shared_ptr<grpc::Channel> NewChannel() {
    grpc::ChannelArguments args;
    args.SetInt("test.channel_number", ++channels_);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials(),
                                     args);
  }
  // Whether a channel can connect and stay connected (the server closes a
  // connection over the cap at once).
  static bool Connects(const std::shared_ptr<grpc::Channel>& channel) {
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) return false;
    absl::SleepFor(absl::Milliseconds(200));  // a rejected connection is shut down on arrival
    return channel->GetState(false) == GRPC_CHANNEL_READY;
  }

  std::unique_ptr<ConnectionLimiter> limiter_;
  grpc::AsyncGenericService generic_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int channels_ = 0;
};

TEST_F(LimitedServerTest, AConnectionOverTheCapIsClosedAndTheListenerKeepsAccepting) {
  StartServer(1);
  auto first = NewChannel();
  ASSERT_TRUE(Connects(first));
  auto second = NewChannel();
  EXPECT_FALSE(Connects(second)) << "a second connection over a cap of 1 must be closed";
  EXPECT_GE(limiter_->stats().rejected, 1);
  EXPECT_EQ(limiter_->stats().open, 1);
  // The first one leaves: a new client gets in (the listener never stopped).
  first.reset();
  bool connected = false;
  for (int i = 0; i < 50 && !connected; ++i) connected = Connects(NewChannel());
  EXPECT_TRUE(connected) << "after the first connection closed, new ones must be accepted";
}

TEST_F(LimitedServerTest, TheListeningSocketIsRecorded) {
  StartServer(10);
  std::vector<int> listeners = limiter_->TakeListeners();
  ASSERT_EQ(listeners.size(), 1u);
  int accepting = 0;
  socklen_t len = sizeof(accepting);
  ASSERT_EQ(getsockopt(listeners[0], SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len), 0);
  EXPECT_EQ(accepting, 1);
}

TEST(GrpcLogBridgeTest, OnlyGrpcsFailedAcceptLineReachesTheHandlers) {
  std::vector<std::string> seen;
  int id = AddAcceptFailureHandler([&seen](const std::string& m) { seen.push_back(m); });
  HandleGrpcLogLineForTest("tcp_server_posix.cc", 205, 2, "Failed accept4: Too many open files");
  HandleGrpcLogLineForTest("chttp2_transport.cc", 1, 2, "Failed to parse something");
  RemoveAcceptFailureHandler(id);
  HandleGrpcLogLineForTest("tcp_server_posix.cc", 205, 2, "Failed accept4: Too many open files");
  EXPECT_EQ(seen, (std::vector<std::string>{"Failed accept4: Too many open files"}));
}

}  // namespace
}  // namespace tlgw
