// twelvelabs.gateway.v1.AssetService on the gRPC callback API: assets and
// indexed assets (API v1.3 only), one REST call each, except IndexAsset
// (IndexWhenReady: waits on the asset's shared watch, creates, reads) and a
// refused DeleteAsset (which lists the blockers); the two watches subscribe
// to the shared watch engine (AssetWatchKind, IndexedAssetWatchKind). Both
// creates take request_id through the create flow (create_flow.h). The tenant that creates an asset
// or an indexed asset is recorded as its owner, and the rules of tasks apply (deps.h OwnerVisible):
// another tenant's is NOT_FOUND like a missing one, unrecorded ones are visible only to a declared
// sole user, lists are filtered. A client restricted to indexes may touch only the indexed assets
// of those indexes; assets belong to no index, so it may use them.
#ifndef TL_GATEWAY_SERVER_SERVICES_ASSET_SERVICE_H_
#define TL_GATEWAY_SERVER_SERVICES_ASSET_SERVICE_H_

#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/asset_service.grpc.pb.h"

namespace tlgw {

class AssetServiceImpl final : public twelvelabs::gateway::v1::AssetService::CallbackService {
 public:
  // `deps` is not owned and must outlive the service.
  explicit AssetServiceImpl(const ServiceDeps* deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* CreateAsset(grpc::CallbackServerContext* ctx,
                                        const twelvelabs::gateway::v1::CreateAssetRequest* req,
                                        twelvelabs::gateway::v1::Asset* resp) override;
  grpc::ServerUnaryReactor* GetAsset(grpc::CallbackServerContext* ctx,
                                     const twelvelabs::gateway::v1::GetAssetRequest* req,
                                     twelvelabs::gateway::v1::Asset* resp) override;
  grpc::ServerUnaryReactor* ListAssets(grpc::CallbackServerContext* ctx,
                                       const twelvelabs::gateway::v1::ListAssetsRequest* req,
                                       twelvelabs::gateway::v1::ListAssetsResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteAsset(grpc::CallbackServerContext* ctx,
                                        const twelvelabs::gateway::v1::DeleteAssetRequest* req,
                                        google::protobuf::Empty* resp) override;
  grpc::ServerUnaryReactor* IndexAsset(grpc::CallbackServerContext* ctx,
                                       const twelvelabs::gateway::v1::IndexAssetRequest* req,
                                       twelvelabs::gateway::v1::IndexedAsset* resp) override;
  grpc::ServerUnaryReactor* GetIndexedAsset(grpc::CallbackServerContext* ctx,
                                            const twelvelabs::gateway::v1::GetIndexedAssetRequest* req,
                                            twelvelabs::gateway::v1::IndexedAsset* resp) override;
  grpc::ServerUnaryReactor* ListIndexedAssets(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::ListIndexedAssetsRequest* req,
      twelvelabs::gateway::v1::ListIndexedAssetsResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteIndexedAsset(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::DeleteIndexedAssetRequest* req,
      google::protobuf::Empty* resp) override;
  grpc::ServerWriteReactor<twelvelabs::gateway::v1::AssetEvent>* WatchAsset(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::WatchAssetRequest* req) override;
  grpc::ServerWriteReactor<twelvelabs::gateway::v1::IndexedAssetEvent>* WatchIndexedAsset(
      grpc::CallbackServerContext* ctx, const twelvelabs::gateway::v1::WatchIndexedAssetRequest* req) override;
  grpc::ServerReadReactor<twelvelabs::gateway::v1::UploadAssetRequest>* UploadAsset(
      grpc::CallbackServerContext* ctx, twelvelabs::gateway::v1::Asset* resp) override;
  grpc::ServerReadReactor<twelvelabs::gateway::v1::UploadAndIndexRequest>* UploadAndIndex(
      grpc::CallbackServerContext* ctx, twelvelabs::gateway::v1::IndexedAsset* resp) override;
  grpc::ServerUnaryReactor* GetUpload(grpc::CallbackServerContext* ctx,
                                      const twelvelabs::gateway::v1::GetUploadRequest* req,
                                      twelvelabs::gateway::v1::Upload* resp) override;

 private:
  const ServiceDeps* const deps_;
};

// Page size used when a request gives 0, and the most the API serves.
inline constexpr int kDefaultAssetPageSize = 10;
inline constexpr int kMaxAssetPageSize = 50;

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_ASSET_SERVICE_H_
