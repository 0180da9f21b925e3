// An in-process stand-in for the gateway's UploadService and TaskService,
// serving on 127.0.0.1:0, that records what a client sent and answers what
// a test scripted. Lets the client library and tlctl be tested for the
// streaming calls (UploadVideoFile, WatchTask) byte by byte, independent of
// the real gateway.
#ifndef TL_GATEWAY_TESTS_CLIENT_FAKE_GATEWAY_H_
#define TL_GATEWAY_TESTS_CLIENT_FAKE_GATEWAY_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "twelvelabs/gateway/v1/task_service.grpc.pb.h"
#include "twelvelabs/gateway/v1/upload_service.grpc.pb.h"

namespace tltest {

// What one UploadVideoFile stream delivered.
struct ReceivedUpload {
  bool header_first = false;
  twelvelabs::gateway::v1::UploadVideoFileHeader header;
  std::vector<size_t> chunk_sizes;
  std::string bytes;
};

class FakeGateway final : public twelvelabs::gateway::v1::UploadService::Service,
                          public twelvelabs::gateway::v1::TaskService::Service {
 public:
  FakeGateway();
  ~FakeGateway() override;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Scripted answers. WatchTask sends `watch_events` then ends with
  // `watch_status`; every unary call and UploadVideoFile end with
  // `call_status` when it is not OK.
  void SetWatch(std::vector<twelvelabs::gateway::v1::TaskEvent> events, grpc::Status status)
      ABSL_LOCKS_EXCLUDED(mu_);
  void SetCallStatus(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  std::vector<ReceivedUpload> uploads() const ABSL_LOCKS_EXCLUDED(mu_);
  // The `authorization` metadata of every call so far ("" when absent).
  std::vector<std::string> authorizations() const ABSL_LOCKS_EXCLUDED(mu_);

  // --- The services ---
  grpc::Status UploadVideoFile(
      grpc::ServerContext* context,
      grpc::ServerReader<twelvelabs::gateway::v1::UploadVideoFileRequest>* reader,
      twelvelabs::gateway::v1::Task* task) override;
  grpc::Status GetTask(grpc::ServerContext* context,
                       const twelvelabs::gateway::v1::GetTaskRequest* request,
                       twelvelabs::gateway::v1::Task* task) override;
  grpc::Status WatchTask(grpc::ServerContext* context,
                         const twelvelabs::gateway::v1::WatchTaskRequest* request,
                         grpc::ServerWriter<twelvelabs::gateway::v1::TaskEvent>* writer) override;

 private:
  void RecordAuthorization(grpc::ServerContext* context) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::vector<ReceivedUpload> uploads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
  std::vector<twelvelabs::gateway::v1::TaskEvent> watch_events_ ABSL_GUARDED_BY(mu_);
  grpc::Status watch_status_ ABSL_GUARDED_BY(mu_);
  grpc::Status call_status_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// A TaskEvent for `task_id` in `status` ("indexing", "ready", ...).
twelvelabs::gateway::v1::TaskEvent Event(const std::string& task_id,
                                         twelvelabs::gateway::v1::TaskStatus status,
                                         const std::string& status_text, int64_t sequence,
                                         double percentage = 0);

// A grpc::Status carrying google.rpc.ErrorInfo `reason` and, when
// `retry_seconds` > 0, RetryInfo: what the gateway sends on failures.
grpc::Status StatusWithDetails(grpc::StatusCode code, const std::string& message,
                               const std::string& reason, int retry_seconds = 0);

// Writes `size` bytes of a repeating pattern to a fresh file; returns its path.
std::string WriteTestFile(const std::string& name, size_t size);

}  // namespace tltest

#endif  // TL_GATEWAY_TESTS_CLIENT_FAKE_GATEWAY_H_
