// GatewayClient against an in-process fake gateway: the upload stream's
// shape (header first, 1 MiB chunks, every byte), progress callbacks, the
// bearer token, WatchTask delivery and early stop, and error details.
#include "client/gateway_client.h"

#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/match.h"
#include "client/file_reader.h"
#include "tests/client/fake_gateway.h"

namespace tlclient {
namespace {

namespace gw = ::twelvelabs::gateway::v1;
using tltest::FakeGateway;

class GatewayClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<GatewayClient> Client(const std::string& token = "") {
    GatewayClientOptions options;
    options.address = fake_.address();
    options.bearer_token = token;
    options.call_timeout = absl::Seconds(10);
    options.stream_timeout = absl::Seconds(30);
    auto client = GatewayClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  }
  FakeGateway fake_;
};

TEST_F(GatewayClientTest, UploadSendsHeaderThenChunksOfTheWholeFile) {
  const size_t size = 2 * kUploadChunkBytes + 12345;
  std::string path = tltest::WriteTestFile("clip.mp4", size);
  gw::UploadVideoFileHeader header;
  header.set_index_id("0123456789abcdef01234567");
  header.set_language("en");
  std::vector<std::pair<int64_t, int64_t>> progress;
  auto task = Client("s3cr3t")->UploadFile(
      path, header, [&](int64_t sent, int64_t total) { progress.emplace_back(sent, total); });
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->system_metadata().filename(), "clip.mp4");

  std::vector<tltest::ReceivedUpload> uploads = fake_.uploads();
  ASSERT_EQ(uploads.size(), 1u);
  const tltest::ReceivedUpload& got = uploads[0];
  EXPECT_TRUE(got.header_first);
  EXPECT_EQ(got.header.index_id(), "0123456789abcdef01234567");
  EXPECT_EQ(got.header.language(), "en");
  EXPECT_EQ(got.header.filename(), "clip.mp4");  // the path's last component by default
  EXPECT_EQ(got.header.size_bytes(), static_cast<int64_t>(size));
  EXPECT_EQ(got.chunk_sizes, (std::vector<size_t>{kUploadChunkBytes, kUploadChunkBytes, 12345}));
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(got.bytes == std::string(std::istreambuf_iterator<char>(in), {}));
  EXPECT_EQ(fake_.authorizations(), std::vector<std::string>{"Bearer s3cr3t"});

  const int64_t total = static_cast<int64_t>(size);
  EXPECT_EQ(progress, (std::vector<std::pair<int64_t, int64_t>>{
                          {0, total},
                          {static_cast<int64_t>(kUploadChunkBytes), total},
                          {static_cast<int64_t>(2 * kUploadChunkBytes), total},
                          {total, total}}));
}

TEST_F(GatewayClientTest, UploadKeepsAGivenFilename) {
  std::string path = tltest::WriteTestFile("local-name.bin", 10);
  gw::UploadVideoFileHeader header;
  header.set_filename("launch.mp4");
  ASSERT_TRUE(Client()->UploadFile(path, header).ok());
  EXPECT_EQ(fake_.uploads().at(0).header.filename(), "launch.mp4");
  EXPECT_EQ(fake_.authorizations(), std::vector<std::string>{""});  // no token, no header
}

TEST_F(GatewayClientTest, UploadOfAMissingFileMakesNoCall) {
  auto task = Client()->UploadFile("/nonexistent/clip.mp4", {});
  EXPECT_EQ(task.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(fake_.uploads().empty());
}

TEST_F(GatewayClientTest, UploadErrorKeepsCodeMessageAndDetails) {
  fake_.SetCallStatus(tltest::StatusWithDetails(grpc::StatusCode::RESOURCE_EXHAUSTED, "slow down",
                                                "too_many_requests", 7));
  std::string path = tltest::WriteTestFile("clip.mp4", 100);
  auto task = Client()->UploadFile(path, {});
  EXPECT_EQ(task.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(task.status().message(), "slow down");
  EXPECT_EQ(ErrorReason(task.status()), "too_many_requests");
  EXPECT_EQ(RetryDelay(task.status()), absl::Seconds(7));
}

TEST_F(GatewayClientTest, UnaryErrorDetails) {
  fake_.SetCallStatus(tltest::StatusWithDetails(
      grpc::StatusCode::NOT_FOUND, "Twelve Labs API: no such task", "resource_not_exist"));
  auto task = Client()->GetTask("aaaaaaaaaaaaaaaaaaaaaaaa");
  ASSERT_EQ(task.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorReason(task.status()), "resource_not_exist");
  EXPECT_EQ(ErrorDomain(task.status()), "api.twelvelabs.io");
  EXPECT_EQ(RetryDelay(task.status()), std::nullopt);
  EXPECT_EQ(DescribeStatus(task.status()),
            "NOT_FOUND: Twelve Labs API: no such task (reason: resource_not_exist)");
}

TEST_F(GatewayClientTest, WatchDeliversEveryEventInOrder) {
  fake_.SetWatch({tltest::Event("t1", gw::TASK_STATUS_PENDING, "pending", 1),
                  tltest::Event("t1", gw::TASK_STATUS_INDEXING, "indexing", 2, 40),
                  tltest::Event("t1", gw::TASK_STATUS_READY, "ready", 3)},
                 grpc::Status::OK);
  std::vector<int64_t> sequences;
  gw::WatchTaskRequest request;
  request.set_task_id("t1");
  absl::Status s = Client("tok")->WatchTask(request, [&](const gw::TaskEvent& e) {
    sequences.push_back(e.sequence());
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(sequences, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(fake_.authorizations(), std::vector<std::string>{"Bearer tok"});
}

TEST_F(GatewayClientTest, WatchStopsWhenTheCallbackSaysSo) {
  fake_.SetWatch({tltest::Event("t1", gw::TASK_STATUS_PENDING, "pending", 1),
                  tltest::Event("t1", gw::TASK_STATUS_READY, "ready", 2),
                  tltest::Event("t1", gw::TASK_STATUS_READY, "ready", 3)},
                 grpc::Status::OK);
  int seen = 0;
  absl::Status s = Client()->WatchTask({}, [&](const gw::TaskEvent& e) {
    ++seen;
    return e.task().status() != gw::TASK_STATUS_READY;
  });
  EXPECT_TRUE(s.ok()) << s;  // our own cancel is not an error
  EXPECT_EQ(seen, 2);
}

TEST_F(GatewayClientTest, WatchReturnsTheStreamsError) {
  fake_.SetWatch({tltest::Event("t1", gw::TASK_STATUS_PENDING, "pending", 1)},
                 grpc::Status(grpc::StatusCode::UNAVAILABLE, "upstream down"));
  int seen = 0;
  absl::Status s = Client()->WatchTask({}, [&](const gw::TaskEvent&) {
    ++seen;
    return true;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "upstream down");
  EXPECT_EQ(seen, 1);
}

TEST_F(GatewayClientTest, AServiceTheServerLacksIsUnimplemented) {
  // The fake serves no IntegrationService.
  auto list = Client()->ListIntegrations();
  EXPECT_EQ(list.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(GatewayClientCreate, RefusesBadOptions) {
  GatewayClientOptions options;
  options.address = "";
  EXPECT_EQ(GatewayClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.address = "127.0.0.1:1";
  options.use_tls = true;
  options.tls_root_ca_file = "/nonexistent/ca.pem";
  auto client = GatewayClient::Create(options);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(client.status().message(), "/nonexistent/ca.pem"));
}

TEST(FromGrpcStatus, KeepsCodeAndMessageWhenDetailsAreUnreadable) {
  absl::Status s = FromGrpcStatus(grpc::Status(grpc::StatusCode::ABORTED, "busy", "\xff\xff"));
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(), "busy");
  EXPECT_EQ(ErrorReason(s), std::nullopt);
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(DescribeStatus, RetryDelayAndEmptyMessage) {
  absl::Status s = FromGrpcStatus(tltest::StatusWithDetails(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                                            "quota", "too_many_requests", 7));
  EXPECT_EQ(DescribeStatus(s),
            "RESOURCE_EXHAUSTED: quota (reason: too_many_requests, retry after 7s)");
  EXPECT_EQ(DescribeStatus(absl::UnimplementedError("")), "UNIMPLEMENTED: (no message)");
}

}  // namespace
}  // namespace tlclient
