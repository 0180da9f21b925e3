#include "client/gateway_client.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/file_reader.h"

namespace tlclient {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

// Runs one blocking unary call and folds its grpc::Status into the result.
template <typename Response, typename Call>
absl::StatusOr<Response> Unary(grpc::ClientContext* context, Call call) {
  Response response;
  grpc::Status status = call(context, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace

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

absl::StatusOr<gw::Task> GatewayClient::CreateUrlTask(const gw::CreateUrlTaskRequest& request) {
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::Task>(context.get(), [&](grpc::ClientContext* c, gw::Task* r) {
    return upload_->CreateUrlTask(c, request, r);
  });
}

absl::StatusOr<gw::Task> GatewayClient::CreateExternalProviderTask(
    const gw::CreateExternalProviderTaskRequest& request) {
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::Task>(context.get(), [&](grpc::ClientContext* c, gw::Task* r) {
    return upload_->CreateExternalProviderTask(c, request, r);
  });
}

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
  std::unique_ptr<grpc::ClientWriter<gw::UploadVideoFileRequest>> writer =
      upload_->UploadVideoFile(context.get(), &task);
  // One message is reused for every chunk: the file bytes are read straight
  // into its `chunk` field, so at most one chunk is in memory at a time.
  gw::UploadVideoFileRequest message;
  *message.mutable_header() = std::move(header);
  if (progress) progress(0, reader.size());
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
  if (!status.ok()) return FromGrpcStatus(status);
  return task;
}

absl::StatusOr<gw::Task> GatewayClient::GetTask(const std::string& task_id) {
  gw::GetTaskRequest request;
  request.set_task_id(task_id);
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::Task>(context.get(), [&](grpc::ClientContext* c, gw::Task* r) {
    return tasks_->GetTask(c, request, r);
  });
}

absl::StatusOr<gw::ListTasksResponse> GatewayClient::ListTasks(
    const gw::ListTasksRequest& request) {
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::ListTasksResponse>(context.get(),
                                      [&](grpc::ClientContext* c, gw::ListTasksResponse* r) {
                                        return tasks_->ListTasks(c, request, r);
                                      });
}

absl::Status GatewayClient::DeleteTask(const std::string& task_id) {
  gw::DeleteTaskRequest request;
  request.set_task_id(task_id);
  auto context = NewContext(options_.call_timeout);
  return Unary<google::protobuf::Empty>(context.get(),
                                        [&](grpc::ClientContext* c, google::protobuf::Empty* r) {
                                          return tasks_->DeleteTask(c, request, r);
                                        })
      .status();
}

absl::StatusOr<gw::IndexTaskCounts> GatewayClient::GetIndexTaskCounts(const std::string& index_id) {
  gw::GetIndexTaskCountsRequest request;
  request.set_index_id(index_id);
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::IndexTaskCounts>(context.get(),
                                    [&](grpc::ClientContext* c, gw::IndexTaskCounts* r) {
                                      return tasks_->GetIndexTaskCounts(c, request, r);
                                    });
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
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::ListIntegrationsResponse>(
      context.get(), [&](grpc::ClientContext* c, gw::ListIntegrationsResponse* r) {
        return integrations_->ListIntegrations(c, request, r);
      });
}

absl::StatusOr<gw::ImportVideosResponse> GatewayClient::ImportVideos(
    const gw::ImportVideosRequest& request) {
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::ImportVideosResponse>(context.get(),
                                         [&](grpc::ClientContext* c, gw::ImportVideosResponse* r) {
                                           return integrations_->ImportVideos(c, request, r);
                                         });
}

absl::StatusOr<gw::ImportStatus> GatewayClient::GetImportStatus(
    const gw::GetImportStatusRequest& request) {
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::ImportStatus>(context.get(), [&](grpc::ClientContext* c, gw::ImportStatus* r) {
    return integrations_->GetImportStatus(c, request, r);
  });
}

absl::StatusOr<gw::ListImportLogsResponse> GatewayClient::ListImportLogs(
    const gw::ListImportLogsRequest& request) {
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::ListImportLogsResponse>(
      context.get(), [&](grpc::ClientContext* c, gw::ListImportLogsResponse* r) {
        return integrations_->ListImportLogs(c, request, r);
      });
}

absl::StatusOr<gw::CheckAwsS3SetupResponse> GatewayClient::CheckAwsS3Setup(
    const gw::CheckAwsS3SetupRequest& request) {
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::CheckAwsS3SetupResponse>(
      context.get(), [&](grpc::ClientContext* c, gw::CheckAwsS3SetupResponse* r) {
        return integrations_->CheckAwsS3Setup(c, request, r);
      });
}

// --- AssetService: uploads ---

absl::StatusOr<gw::Upload> GatewayClient::GetUpload(const std::string& upload_id) {
  gw::GetUploadRequest request;
  request.set_upload_id(upload_id);
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::Upload>(context.get(), [&](grpc::ClientContext* c, gw::Upload* r) {
    return assets_->GetUpload(c, request, r);
  });
}

namespace {

// Sends `message` (its header set), then the reader's bytes, on `writer`;
// the call's status, or the local error that cut it.
template <typename Request>
absl::Status SendFile(grpc::ClientContext* context, grpc::ClientWriter<Request>* writer, Request message,
                      ChunkedFileReader& reader, const UploadProgressCallback& progress) {
  // One message reused for every chunk, as in UploadFile.
  if (progress) progress(reader.offset(), reader.size());
  bool stream_open = writer->Write(message);
  absl::Status local = absl::OkStatus();
  while (stream_open && !reader.done()) {
    local = reader.Next(message.mutable_chunk());
    if (!local.ok()) break;
    stream_open = writer->Write(message);
    if (stream_open && progress) progress(reader.offset(), reader.size());
  }
  if (!local.ok()) {
    context->TryCancel();
  } else if (stream_open) {
    writer->WritesDone();
  }
  grpc::Status status = writer->Finish();
  if (!local.ok()) return local;
  return FromGrpcStatus(status);
}

}  // namespace

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
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::Asset>(context.get(), [&](grpc::ClientContext* c, gw::Asset* r) {
    return assets_->GetAsset(c, request, r);
  });
}

absl::StatusOr<gw::ListAssetsResponse> GatewayClient::ListAssets(
    const gw::ListAssetsRequest& request) {
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::ListAssetsResponse>(context.get(),
                                       [&](grpc::ClientContext* c, gw::ListAssetsResponse* r) {
                                         return assets_->ListAssets(c, request, r);
                                       });
}

absl::Status GatewayClient::DeleteAsset(const std::string& asset_id, bool force) {
  gw::DeleteAssetRequest request;
  request.set_asset_id(asset_id);
  request.set_force(force);
  auto context = NewContext(options_.call_timeout);
  return Unary<google::protobuf::Empty>(context.get(),
                                        [&](grpc::ClientContext* c, google::protobuf::Empty* r) {
                                          return assets_->DeleteAsset(c, request, r);
                                        })
      .status();
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
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::IndexedAsset>(context.get(), [&](grpc::ClientContext* c, gw::IndexedAsset* r) {
    return assets_->GetIndexedAsset(c, request, r);
  });
}

absl::StatusOr<gw::ListIndexedAssetsResponse> GatewayClient::ListIndexedAssets(
    const gw::ListIndexedAssetsRequest& request) {
  auto context = NewContext(options_.call_timeout);
  return Unary<gw::ListIndexedAssetsResponse>(
      context.get(), [&](grpc::ClientContext* c, gw::ListIndexedAssetsResponse* r) {
        return assets_->ListIndexedAssets(c, request, r);
      });
}

absl::Status GatewayClient::DeleteIndexedAsset(const std::string& index_id,
                                               const std::string& indexed_asset_id) {
  gw::DeleteIndexedAssetRequest request;
  request.set_index_id(index_id);
  request.set_indexed_asset_id(indexed_asset_id);
  auto context = NewContext(options_.call_timeout);
  return Unary<google::protobuf::Empty>(context.get(),
                                        [&](grpc::ClientContext* c, google::protobuf::Empty* r) {
                                          return assets_->DeleteIndexedAsset(c, request, r);
                                        })
      .status();
}

absl::Status GatewayClient::WatchIndexedAsset(const gw::WatchIndexedAssetRequest& request,
                                              const IndexedAssetEventCallback& on_event) {
  auto context = NewContext(options_.stream_timeout);
  auto reader = assets_->WatchIndexedAsset(context.get(), request);
  return ReadWatch<gw::IndexedAssetEvent>(context.get(), reader.get(), on_event);
}

}  // namespace tlclient
