#include "client/gateway_client.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/file_reader.h"

namespace tlclient {

namespace gw = ::twelvelabs::gateway::v1;

absl::StatusOr<std::unique_ptr<GatewayClient>> GatewayClient::Create(GatewayClientOptions options) {
  if (options.address.empty()) return absl::InvalidArgumentError("gateway address is empty");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.use_tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_root_ca_file.empty()) {
      std::ifstream in(options.tls_root_ca_file, std::ios::binary);
      if (!in) {
        return absl::NotFoundError(absl::StrCat("cannot read CA file ", options.tls_root_ca_file));
      }
      std::stringstream pem;
      pem << in.rdbuf();
      ssl.pem_root_certs = pem.str();
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  if (!options.user_agent.empty()) args.SetUserAgentPrefix(options.user_agent);
  auto channel = grpc::CreateCustomChannel(options.address, credentials, args);
  return std::make_unique<GatewayClient>(std::move(channel), std::move(options));
}

GatewayClient::GatewayClient(std::shared_ptr<grpc::ChannelInterface> channel,
                             GatewayClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      upload_(gw::UploadService::NewStub(channel_)),
      tasks_(gw::TaskService::NewStub(channel_)),
      integrations_(gw::IntegrationService::NewStub(channel_)),
      assets_(gw::AssetService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> GatewayClient::NewContext(absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (timeout > absl::ZeroDuration() && timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  if (!options_.bearer_token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.bearer_token));
  }
  return context;
}

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> GatewayClient::Unary(
    Stub* stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request) const {
  auto context = NewContext(options_.call_timeout);
  Response response;
  grpc::Status status = (stub->*method)(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<gw::Task> GatewayClient::CreateUrlTask(const gw::CreateUrlTaskRequest& request) {
  return Unary(upload_.get(), &gw::UploadService::Stub::CreateUrlTask, request);
}

absl::StatusOr<gw::Task> GatewayClient::CreateExternalProviderTask(
    const gw::CreateExternalProviderTaskRequest& request) {
  return Unary(upload_.get(), &gw::UploadService::Stub::CreateExternalProviderTask, request);
}

namespace {

// Sends `message` (its header set), then the reader's bytes, on `writer`;
// the call's status, or the local error that cut it.
template <typename Request>
absl::Status SendFile(grpc::ClientContext* context, grpc::ClientWriter<Request>* writer, Request message,
                      ChunkedFileReader& reader, const UploadProgressCallback& progress) {
  // One message is reused for every chunk: the file bytes are read straight
  // into its `chunk` field, so at most one chunk is in memory at a time.
  if (progress) progress(reader.offset(), reader.size());
  bool stream_open = writer->Write(message);
  absl::Status local = absl::OkStatus();
  while (stream_open && !reader.done()) {
    local = reader.Next(message.mutable_chunk());
    if (!local.ok()) break;
    // Write() returns false once the server has ended the call (e.g. an
    // early error); Finish() below then reports why.
    stream_open = writer->Write(message);
    if (stream_open && progress) progress(reader.offset(), reader.size());
  }
  if (!local.ok()) {
    // Fewer bytes than the header promised would leave the server waiting:
    // cancel instead of half-closing.
    context->TryCancel();
  } else if (stream_open) {
    writer->WritesDone();
  }
  grpc::Status status = writer->Finish();
  if (!local.ok()) return local;
  return FromGrpcStatus(status);
}

}  // namespace

absl::StatusOr<gw::Task> GatewayClient::UploadFile(const std::string& path,
                                                   gw::UploadVideoFileHeader header,
                                                   const UploadProgressCallback& progress) {
  // Open before the call starts, so a missing file costs no RPC.
  auto file = ChunkedFileReader::Open(path);
  if (!file.ok()) return file.status();
  ChunkedFileReader& reader = **file;
  header.set_size_bytes(reader.size());
  if (header.filename().empty()) header.set_filename(BaseName(path));

  auto context = NewContext(options_.stream_timeout);
  gw::Task task;
  auto writer = upload_->UploadVideoFile(context.get(), &task);
  gw::UploadVideoFileRequest message;
  *message.mutable_header() = std::move(header);
  if (absl::Status s = SendFile(context.get(), writer.get(), std::move(message), reader, progress); !s.ok()) {
    return s;
  }
  return task;
}

absl::StatusOr<gw::Task> GatewayClient::GetTask(const std::string& task_id) {
  gw::GetTaskRequest request;
  request.set_task_id(task_id);
  return Unary(tasks_.get(), &gw::TaskService::Stub::GetTask, request);
}

absl::StatusOr<gw::ListTasksResponse> GatewayClient::ListTasks(
    const gw::ListTasksRequest& request) {
  return Unary(tasks_.get(), &gw::TaskService::Stub::ListTasks, request);
}

absl::Status GatewayClient::DeleteTask(const std::string& task_id) {
  gw::DeleteTaskRequest request;
  request.set_task_id(task_id);
  return Unary(tasks_.get(), &gw::TaskService::Stub::DeleteTask, request).status();
}

absl::StatusOr<gw::IndexTaskCounts> GatewayClient::GetIndexTaskCounts(const std::string& index_id) {
  gw::GetIndexTaskCountsRequest request;
  request.set_index_id(index_id);
  return Unary(tasks_.get(), &gw::TaskService::Stub::GetIndexTaskCounts, request);
}

namespace {

// Reads a watch stream to its end: OK after the server ends it or when
// `on_event` returns false (Finish() then reports our own TryCancel() as
// CANCELLED, which is the caller's choice, not a failure).
template <typename Event>
absl::Status ReadWatch(grpc::ClientContext* context, grpc::ClientReader<Event>* reader,
                       const std::function<bool(const Event&)>& on_event) {
  Event event;
  bool stopped_by_caller = false;
  while (reader->Read(&event)) {
    if (on_event && !on_event(event)) {
      stopped_by_caller = true;
      context->TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (stopped_by_caller) return absl::OkStatus();
  return FromGrpcStatus(status);
}

}  // namespace

absl::Status GatewayClient::WatchTask(const gw::WatchTaskRequest& request,
                                      const TaskEventCallback& on_event) {
  auto context = NewContext(options_.stream_timeout);
  auto reader = tasks_->WatchTask(context.get(), request);
  return ReadWatch<gw::TaskEvent>(context.get(), reader.get(), on_event);
}

absl::StatusOr<gw::ListIntegrationsResponse> GatewayClient::ListIntegrations(
    const gw::ListIntegrationsRequest& request) {
  return Unary(integrations_.get(), &gw::IntegrationService::Stub::ListIntegrations, request);
}

absl::StatusOr<gw::ImportVideosResponse> GatewayClient::ImportVideos(
    const gw::ImportVideosRequest& request) {
  return Unary(integrations_.get(), &gw::IntegrationService::Stub::ImportVideos, request);
}

absl::StatusOr<gw::ImportStatus> GatewayClient::GetImportStatus(
    const gw::GetImportStatusRequest& request) {
  return Unary(integrations_.get(), &gw::IntegrationService::Stub::GetImportStatus, request);
}

absl::StatusOr<gw::ListImportLogsResponse> GatewayClient::ListImportLogs(
    const gw::ListImportLogsRequest& request) {
  return Unary(integrations_.get(), &gw::IntegrationService::Stub::ListImportLogs, request);
}

absl::StatusOr<gw::CheckAwsS3SetupResponse> GatewayClient::CheckAwsS3Setup(
    const gw::CheckAwsS3SetupRequest& request) {
  return Unary(integrations_.get(), &gw::IntegrationService::Stub::CheckAwsS3Setup, request);
}

// --- AssetService: uploads ---

absl::StatusOr<gw::Upload> GatewayClient::GetUpload(const std::string& upload_id) {
  gw::GetUploadRequest request;
  request.set_upload_id(upload_id);
  return Unary(assets_.get(), &gw::AssetService::Stub::GetUpload, request);
}

// Fills in `header`'s size (and, for a continuation, resume_offset from
// GetUpload, the reader moved there; else a default filename).
absl::Status GatewayClient::PrepareAssetHeader(const std::string& path, ChunkedFileReader& reader,
                                               gw::UploadAssetHeader* header) {
  header->set_size_bytes(reader.size());
  if (!header->upload_id().empty()) {
    // A continuation: the session says where the bytes it lacks start.
    absl::StatusOr<gw::Upload> upload = GetUpload(header->upload_id());
    if (!upload.ok()) return upload.status();
    if (upload->size_bytes() != reader.size()) {
      return absl::FailedPreconditionError(absl::StrCat(path, " has ", reader.size(), " bytes but upload ",
                                                        header->upload_id(), " is of a ", upload->size_bytes(),
                                                        "-byte file: is it the same file?"));
    }
    if (absl::Status s = reader.SeekTo(upload->resume_offset()); !s.ok()) return s;
    header->set_resume_offset(upload->resume_offset());
  } else if (header->filename().empty()) {
    header->set_filename(BaseName(path));
  }
  return absl::OkStatus();
}

absl::StatusOr<gw::Asset> GatewayClient::UploadAssetFile(const std::string& path, gw::UploadAssetHeader header,
                                                         const UploadProgressCallback& progress) {
  // Open before the call starts, so a missing file costs no RPC.
  auto file = ChunkedFileReader::Open(path);
  if (!file.ok()) return file.status();
  ChunkedFileReader& reader = **file;
  if (absl::Status s = PrepareAssetHeader(path, reader, &header); !s.ok()) return s;
  auto context = NewContext(options_.stream_timeout);
  gw::Asset asset;
  auto writer = assets_->UploadAsset(context.get(), &asset);
  gw::UploadAssetRequest message;
  *message.mutable_header() = std::move(header);
  if (absl::Status s = SendFile(context.get(), writer.get(), std::move(message), reader, progress); !s.ok()) {
    return s;
  }
  return asset;
}

absl::StatusOr<gw::IndexedAsset> GatewayClient::UploadAndIndexFile(const std::string& path,
                                                                   gw::UploadAndIndexHeader header,
                                                                   const UploadProgressCallback& progress) {
  auto file = ChunkedFileReader::Open(path);
  if (!file.ok()) return file.status();
  ChunkedFileReader& reader = **file;
  if (absl::Status s = PrepareAssetHeader(path, reader, header.mutable_upload()); !s.ok()) return s;
  auto context = NewContext(options_.stream_timeout);
  gw::IndexedAsset indexed;
  auto writer = assets_->UploadAndIndex(context.get(), &indexed);
  gw::UploadAndIndexRequest message;
  *message.mutable_header() = std::move(header);
  if (absl::Status s = SendFile(context.get(), writer.get(), std::move(message), reader, progress); !s.ok()) {
    return s;
  }
  return indexed;
}

// --- AssetService ---

absl::StatusOr<gw::Asset> GatewayClient::GetAsset(const std::string& asset_id) {
  gw::GetAssetRequest request;
  request.set_asset_id(asset_id);
  return Unary(assets_.get(), &gw::AssetService::Stub::GetAsset, request);
}

absl::StatusOr<gw::ListAssetsResponse> GatewayClient::ListAssets(
    const gw::ListAssetsRequest& request) {
  return Unary(assets_.get(), &gw::AssetService::Stub::ListAssets, request);
}

absl::Status GatewayClient::DeleteAsset(const std::string& asset_id, bool force) {
  gw::DeleteAssetRequest request;
  request.set_asset_id(asset_id);
  request.set_force(force);
  return Unary(assets_.get(), &gw::AssetService::Stub::DeleteAsset, request).status();
}

absl::Status GatewayClient::WatchAsset(const gw::WatchAssetRequest& request,
                                       const AssetEventCallback& on_event) {
  auto context = NewContext(options_.stream_timeout);
  auto reader = assets_->WatchAsset(context.get(), request);
  return ReadWatch<gw::AssetEvent>(context.get(), reader.get(), on_event);
}

absl::StatusOr<gw::IndexedAsset> GatewayClient::GetIndexedAsset(
    const std::string& index_id, const std::string& indexed_asset_id) {
  gw::GetIndexedAssetRequest request;
  request.set_index_id(index_id);
  request.set_indexed_asset_id(indexed_asset_id);
  return Unary(assets_.get(), &gw::AssetService::Stub::GetIndexedAsset, request);
}

absl::StatusOr<gw::ListIndexedAssetsResponse> GatewayClient::ListIndexedAssets(
    const gw::ListIndexedAssetsRequest& request) {
  return Unary(assets_.get(), &gw::AssetService::Stub::ListIndexedAssets, request);
}

absl::Status GatewayClient::DeleteIndexedAsset(const std::string& index_id,
                                               const std::string& indexed_asset_id) {
  gw::DeleteIndexedAssetRequest request;
  request.set_index_id(index_id);
  request.set_indexed_asset_id(indexed_asset_id);
  return Unary(assets_.get(), &gw::AssetService::Stub::DeleteIndexedAsset, request).status();
}

absl::Status GatewayClient::WatchIndexedAsset(const gw::WatchIndexedAssetRequest& request,
                                              const IndexedAssetEventCallback& on_event) {
  auto context = NewContext(options_.stream_timeout);
  auto reader = assets_->WatchIndexedAsset(context.get(), request);
  return ReadWatch<gw::IndexedAssetEvent>(context.get(), reader.get(), on_event);
}

}  // namespace tlclient
