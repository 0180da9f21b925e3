#include "tests/client/fake_gateway.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace tltest {

namespace gw = ::twelvelabs::gateway::v1;

FakeGateway::FakeGateway() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(static_cast<gw::UploadService::Service*>(this));
  builder.RegisterService(static_cast<gw::TaskService::Service*>(this));
  server_ = builder.BuildAndStart();
}

FakeGateway::~FakeGateway() {
  server_->Shutdown();
  server_->Wait();
}

void FakeGateway::SetWatch(std::vector<gw::TaskEvent> events, grpc::Status status) {
  absl::MutexLock lock(&mu_);
  watch_events_ = std::move(events);
  watch_status_ = std::move(status);
}

void FakeGateway::SetCallStatus(grpc::Status status) {
  absl::MutexLock lock(&mu_);
  call_status_ = std::move(status);
}

std::vector<ReceivedUpload> FakeGateway::uploads() const {
  absl::MutexLock lock(&mu_);
  return uploads_;
}

std::vector<std::string> FakeGateway::authorizations() const {
  absl::MutexLock lock(&mu_);
  return authorizations_;
}

void FakeGateway::RecordAuthorization(grpc::ServerContext* context) {
  std::string value;
  auto it = context->client_metadata().find("authorization");
  if (it != context->client_metadata().end()) value.assign(it->second.data(), it->second.size());
  absl::MutexLock lock(&mu_);
  authorizations_.push_back(value);
}

grpc::Status FakeGateway::UploadVideoFile(grpc::ServerContext* context,
                                          grpc::ServerReader<gw::UploadVideoFileRequest>* reader,
                                          gw::Task* task) {
  RecordAuthorization(context);
  ReceivedUpload upload;
  gw::UploadVideoFileRequest message;
  bool first = true;
  while (reader->Read(&message)) {
    if (message.has_header()) {
      upload.header_first = first;
      upload.header = message.header();
    } else {
      upload.chunk_sizes.push_back(message.chunk().size());
      upload.bytes += message.chunk();
    }
    first = false;
  }
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    uploads_.push_back(upload);
    status = call_status_;
  }
  if (!status.ok()) return status;
  task->set_id("0123456789abcdef00000001");
  task->set_index_id(upload.header.index_id());
  task->set_status(gw::TASK_STATUS_VALIDATING);
  task->set_status_text("validating");
  task->mutable_system_metadata()->set_filename(upload.header.filename());
  return grpc::Status::OK;
}

grpc::Status FakeGateway::GetTask(grpc::ServerContext* context, const gw::GetTaskRequest* request,
                                  gw::Task* task) {
  RecordAuthorization(context);
  {
    absl::MutexLock lock(&mu_);
    if (!call_status_.ok()) return call_status_;
  }
  task->set_id(request->task_id());
  task->set_status(gw::TASK_STATUS_READY);
  task->set_status_text("ready");
  return grpc::Status::OK;
}

grpc::Status FakeGateway::WatchTask(grpc::ServerContext* context,
                                    const gw::WatchTaskRequest* request,
                                    grpc::ServerWriter<gw::TaskEvent>* writer) {
  RecordAuthorization(context);
  std::vector<gw::TaskEvent> events;
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    events = watch_events_;
    status = watch_status_;
  }
  for (const auto& e : events) {
    if (!writer->Write(e)) return grpc::Status::CANCELLED;
  }
  return status;
}

gw::TaskEvent Event(const std::string& task_id, gw::TaskStatus status,
                    const std::string& status_text, int64_t sequence, double percentage) {
  gw::TaskEvent event;
  event.set_sequence(sequence);
  event.set_source(sequence == 1 ? gw::EVENT_SOURCE_SNAPSHOT : gw::EVENT_SOURCE_POLL);
  event.mutable_observe_time()->set_seconds(1714564800 + sequence);
  gw::Task* task = event.mutable_task();
  task->set_id(task_id);
  task->set_status(status);
  task->set_status_text(status_text);
  if (percentage > 0) task->mutable_progress()->set_percentage(percentage);
  return event;
}

grpc::Status StatusWithDetails(grpc::StatusCode code, const std::string& message,
                               const std::string& reason, int retry_seconds) {
  google::rpc::Status details;
  details.set_code(code);
  details.set_message(message);
  google::rpc::ErrorInfo info;
  info.set_reason(reason);
  info.set_domain("api.twelvelabs.io");
  details.add_details()->PackFrom(info);
  if (retry_seconds > 0) {
    google::rpc::RetryInfo retry;
    retry.mutable_retry_delay()->set_seconds(retry_seconds);
    details.add_details()->PackFrom(retry);
  }
  return grpc::Status(code, message, details.SerializeAsString());
}

std::string WriteTestFile(const std::string& name, size_t size) {
  // A fresh directory per file, so `name` is the exact base name.
  static int counter = 0;
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir =
      std::string(tmp != nullptr ? tmp : "/tmp") + "/file" + std::to_string(counter++);
  mkdir(dir.c_str(), 0755);
  std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary);
  for (size_t i = 0; i < size; ++i) out.put(static_cast<char>('a' + i % 26));
  return path;
}

}  // namespace tltest
