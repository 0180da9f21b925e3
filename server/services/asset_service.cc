#include "server/services/asset_service.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/log.h"
#include "server/common/status_details.h"
#include "server/services/asset_upload.h"
#include "server/services/create_flow.h"
#include "server/services/index_when_ready.h"
#include "server/services/owned_list.h"
#include "server/services/page_token.h"
#include "server/services/reactor_util.h"
#include "server/services/validation.h"
#include "server/twelvelabs/api_version.h"
#include "server/services/watch_reactor.h"
#include "server/watch/watch_kinds.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

// The NOT_FOUND of every "no such asset" answer: whether upstream has none
// or another tenant owns it, so the two cannot be told apart.
absl::Status AssetNotFound(const std::string& id) {
  return WithErrorInfo(absl::NotFoundError(absl::StrCat("asset ", id, " was not found")),
                       "RESOURCE_NOT_EXIST", kUpstreamDomain);
}
absl::Status IndexedAssetNotFound(const std::string& index_id, const std::string& id) {
  return WithErrorInfo(
      absl::NotFoundError(absl::StrCat("indexed asset ", id, " was not found in index ", index_id)),
      "RESOURCE_NOT_EXIST", kUpstreamDomain);
}
absl::Status UniformAssetNotFound(absl::Status s, const std::string& id) {
  return s.code() == absl::StatusCode::kNotFound ? AssetNotFound(id) : s;
}
absl::Status UniformIndexedNotFound(absl::Status s, const std::string& index_id, const std::string& id) {
  return s.code() == absl::StatusCode::kNotFound ? IndexedAssetNotFound(index_id, id) : s;
}

// FAILED_PRECONDITION ASSET_IN_USE naming the indexed assets (as
// "index_id/indexed_asset_id") that block an asset's delete; upstream's own
// refusal `refused` when they could not be listed.
absl::Status AssetInUse(const std::string& id, const absl::Status& refused,
                        const absl::StatusOr<IndexedAssetPage>& blockers) {
  if (!blockers.ok() || blockers->indexed_assets.indexed_assets_size() == 0) return refused;
  std::vector<std::string> names;
  for (const gw::IndexedAsset& ia : blockers->indexed_assets.indexed_assets()) {
    names.push_back(ia.index_id().empty() ? ia.id() : absl::StrCat(ia.index_id(), "/", ia.id()));
  }
  const int64_t total = std::max<int64_t>(blockers->indexed_assets.total_size(), names.size());
  const std::string list = absl::StrJoin(names, ", ");
  return WithErrorInfo(
      absl::FailedPreconditionError(
          absl::StrCat("asset ", id, " is still used by ", total, " indexed asset(s): ", list,
                       total > static_cast<int64_t>(names.size()) ? ", ..." : "",
                       "; delete them first (DeleteIndexedAsset), or delete the asset with force")),
      "ASSET_IN_USE", kGatewayDomain, {{"asset_id", id}, {"indexed_assets", list}});
}

absl::Status ValidateCreateAsset(const gw::CreateAssetRequest& req) {
  if (auto s = ValidateHttpUrl("url", req.url()); !s.ok()) return s;
  if (!req.filename().empty()) {
    if (auto s = ValidateFileName("filename", req.filename()); !s.ok()) return s;
  }
  if (req.has_user_metadata()) {
    if (auto s = UserMetadataJson(req.user_metadata(), "user_metadata").status(); !s.ok()) return s;
  }
  return ValidateRequestId("request_id", req.request_id());
}

absl::Status ValidateIndexAsset(const gw::IndexAssetRequest& req) {
  if (auto s = ValidateId("index_id", req.index_id()); !s.ok()) return s;
  if (auto s = ValidateId("asset_id", req.asset_id()); !s.ok()) return s;
  if (req.has_user_metadata()) {
    if (auto s = UserMetadataJson(req.user_metadata(), "user_metadata").status(); !s.ok()) return s;
  }
  return ValidateRequestId("request_id", req.request_id());
}

absl::Status ValidateListAssets(const gw::ListAssetsRequest& req) {
  for (int i = 0; i < req.asset_ids_size(); ++i) {
    if (auto s = ValidateId(absl::StrCat("asset_ids[", i, "]"), req.asset_ids(i)); !s.ok()) return s;
  }
  for (int i = 0; i < req.asset_types_size(); ++i) {
    auto t = static_cast<gw::AssetType>(req.asset_types(i));
    if (t == gw::ASSET_TYPE_UNSPECIFIED || !gw::AssetType_IsValid(t)) {
      return FieldError(absl::StrCat("asset_types[", i, "]"), "must be ASSET_TYPE_VIDEO, _AUDIO or _IMAGE");
    }
  }
  if (req.filename().size() > 1024) return FieldError("filename", "is longer than 1024 characters");
  return ValidatePageSize("page_size", req.page_size(), kMaxAssetPageSize);
}

absl::Status ValidateRange(const std::string& field, const gw::NumberRange& r) {
  if (r.has_equal() && (r.has_min() || r.has_max())) {
    return FieldError(field, "set either equal or min/max, not both");
  }
  for (auto [name, has, v] : {std::make_tuple("equal", r.has_equal(), r.equal()),
                              std::make_tuple("min", r.has_min(), r.min()),
                              std::make_tuple("max", r.has_max(), r.max())}) {
    if (has && (!std::isfinite(v) || v < 0)) {
      return FieldError(absl::StrCat(field, ".", name), "must be a non-negative number");
    }
  }
  if (r.has_min() && r.has_max() && r.min() > r.max()) {
    return FieldError(field, "min must not be greater than max");
  }
  return absl::OkStatus();
}

absl::Status ValidateTimeRange(const std::string& field, const gw::TimeRange& r) {
  if (r.has_on_day_from() && (r.has_start_time() || r.has_end_time())) {
    return FieldError(field, "set either on_day_from or start_time/end_time, not both");
  }
  if (r.has_start_time() && r.has_end_time() &&
      std::make_pair(r.start_time().seconds(), r.start_time().nanos()) >
          std::make_pair(r.end_time().seconds(), r.end_time().nanos())) {
    return FieldError(field, "start_time must not be after end_time");
  }
  return absl::OkStatus();
}

// Query parameters of `GET /indexes/{id}/indexed-assets` that a user
// metadata filter (sent as a plain `key=value`) must not shadow.
bool ReservedQueryName(const std::string& key) {
  static const std::set<std::string>* names = new std::set<std::string>{
      "page", "page_limit", "sort_by", "sort_option", "status", "filename", "duration", "fps",
      "width", "height", "size", "created_at", "updated_at"};
  return names->count(key) > 0;
}

absl::Status ValidateListIndexedAssets(const gw::ListIndexedAssetsRequest& req) {
  if (auto s = ValidateId("index_id", req.index_id()); !s.ok()) return s;
  for (int i = 0; i < req.statuses_size(); ++i) {
    auto st = static_cast<gw::IndexedAssetStatus>(req.statuses(i));
    if (st == gw::INDEXED_ASSET_STATUS_UNSPECIFIED || st == gw::INDEXED_ASSET_STATUS_OTHER ||
        !gw::IndexedAssetStatus_IsValid(st)) {
      return FieldError(absl::StrCat("statuses[", i, "]"),
                        "must be a concrete status such as INDEXED_ASSET_STATUS_READY");
    }
  }
  if (req.filename().size() > 1024) return FieldError("filename", "is longer than 1024 characters");
  for (auto [name, range] : {std::make_pair("duration_seconds", &req.duration_seconds()),
                             std::make_pair("fps", &req.fps()), std::make_pair("width", &req.width()),
                             std::make_pair("height", &req.height()),
                             std::make_pair("size_bytes", &req.size_bytes())}) {
    if (auto s = ValidateRange(name, *range); !s.ok()) return s;
  }
  if (auto s = ValidateTimeRange("create_time", req.create_time()); !s.ok()) return s;
  if (auto s = ValidateTimeRange("update_time", req.update_time()); !s.ok()) return s;
  for (const auto& [key, value] : req.user_metadata()) {
    bool ok = !key.empty() && key.size() <= 128;
    for (char c : key) ok = ok && (absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.');
    if (!ok) {
      return FieldError("user_metadata", absl::StrCat("keys must be 1 to 128 of A-Z, a-z, 0-9, '_', '-' and '.'",
                                                      key.size() > 64 ? "" : absl::StrCat("; got '", key, "'")));
    }
    if (ReservedQueryName(key)) {
      return FieldError("user_metadata", absl::StrCat("key '", key,
                                                      "' is the name of another filter of the listing"));
    }
    if (value.size() > 1024) return FieldError("user_metadata", "values must be at most 1024 characters");
  }
  if (!gw::IndexedAssetSortField_IsValid(req.sort_by())) return FieldError("sort_by", "is not a known sort field");
  if (!gw::SortOrder_IsValid(req.sort_order())) return FieldError("sort_order", "is not a known sort order");
  return ValidatePageSize("page_size", req.page_size(), kMaxAssetPageSize);
}

}  // namespace

// Every method: authentication and the methods allowlist (Admit), then the
// API version, then the request's fields, then the resources it names.
#define TLGW_ADMIT(method, ids)                                                        \
  auto call = Admit(*deps_, ctx, "AssetService." method, ids);                         \
  if (!call.ok()) return FinishNow(ctx, call.status());                                \
  if (auto s = RequireAssets(deps_->api->version(), method); !s.ok()) return FinishNow(ctx, s)

grpc::ServerUnaryReactor* AssetServiceImpl::CreateAsset(grpc::CallbackServerContext* ctx,
                                                        const gw::CreateAssetRequest* req, gw::Asset* resp) {
  TLGW_ADMIT("CreateAsset", {});
  if (auto s = ValidateCreateAsset(*req); !s.ok()) return FinishNow(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  const ServiceDeps* deps = deps_;
  const CallOptions opts = call->opts;
  CreateFlow<gw::Asset> flow;
  flow.method = "CreateAsset";
  flow.what = "asset";
  flow.request = req;
  flow.request_id = req->request_id();
  // The look-up after a crash lists assets by the name upstream gives
  // this one: the filename, or the URL's last path segment.
  flow.target.source = req->filename().empty() ? req->url() : req->filename();
  flow.start = [deps, opts, req](TwelveLabsApi::Done<gw::Asset> done) {
    deps->api->CreateAsset(opts, *req, std::move(done));
  };
  flow.read = [deps, opts](gw::Asset known, TwelveLabsApi::Done<gw::Asset> done) {
    if (!known.status_text().empty()) {  // the create's 201 is the whole asset
      done(std::move(known));
      return;
    }
    // A repeat of a completed create: read it fresh.
    deps->api->GetAsset(opts, known.id(),
                        [known, done = std::move(done)](absl::StatusOr<gw::Asset> a) mutable {
                          done(a.ok() ? std::move(a) : absl::StatusOr<gw::Asset>(std::move(known)));
                        });
  };
  flow.find = [deps, opts](const RequestStore::Attempt& attempt,
                           TwelveLabsApi::Done<std::optional<gw::Asset>> done) {
    FindUnansweredAsset(*deps, opts, attempt, std::move(done));
  };
  RunCreateFlow<gw::Asset>(*deps_, opts, call->who.tenant, std::move(flow),
                           FinishWith(reactor, resp));
  return reactor;
}

grpc::ServerUnaryReactor* AssetServiceImpl::GetAsset(grpc::CallbackServerContext* ctx,
                                                     const gw::GetAssetRequest* req, gw::Asset* resp) {
  TLGW_ADMIT("GetAsset", (std::map<std::string, std::string>{{"asset_id", req->asset_id()}}));
  if (auto s = ValidateId("asset_id", req->asset_id()); !s.ok()) return FinishNow(ctx, s);
  if (auto v = CheckOwnedIdVisible(*deps_, call->who, req->asset_id(), AssetNotFound(req->asset_id())); !v.ok()) {
    return FinishNow(ctx, v);
  }
  auto* reactor = ctx->DefaultReactor();
  deps_->api->GetAsset(call->opts, req->asset_id(), [reactor, resp, id = req->asset_id()](absl::StatusOr<gw::Asset> a) {
    if (a.ok()) *resp = *std::move(a);
    reactor->Finish(ToGrpcStatus(UniformAssetNotFound(a.status(), id)));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AssetServiceImpl::ListAssets(grpc::CallbackServerContext* ctx,
                                                       const gw::ListAssetsRequest* req,
                                                       gw::ListAssetsResponse* resp) {
  TLGW_ADMIT("ListAssets", {});
  if (auto s = ValidateListAssets(*req); !s.ok()) return FinishNow(ctx, s);
  OwnedListSource<gw::ListAssetsResponse, AssetPage> source;
  source.fetch = [api = deps_->api, opts = call->opts, req](int page, int limit, TwelveLabsApi::Done<AssetPage> done) {
    api->ListAssets(opts, *req, page, limit, std::move(done));
  };
  source.visible = [deps = deps_](const CallIdentity& who, const gw::ListAssetsResponse& page) {
    std::vector<std::string> ids;
    for (const gw::Asset& a : page.assets()) ids.push_back(a.id());
    return OwnedIdsVisible(*deps, who, ids);
  };
  source.default_page_size = kDefaultAssetPageSize;
  source.max_page_size = kMaxAssetPageSize;
  return StartOwnedList(ctx, *std::move(call), *req, resp, std::move(source));
}

grpc::ServerUnaryReactor* AssetServiceImpl::DeleteAsset(grpc::CallbackServerContext* ctx,
                                                        const gw::DeleteAssetRequest* req, google::protobuf::Empty*) {
  TLGW_ADMIT("DeleteAsset", (std::map<std::string, std::string>{{"asset_id", req->asset_id()}}));
  if (auto s = ValidateId("asset_id", req->asset_id()); !s.ok()) return FinishNow(ctx, s);
  if (auto v = CheckOwnedIdVisible(*deps_, call->who, req->asset_id(), AssetNotFound(req->asset_id())); !v.ok()) {
    return FinishNow(ctx, v);
  }
  auto* reactor = ctx->DefaultReactor();
  // A 409 (indexed assets still refer to the asset) comes back from the
  // client as FAILED_PRECONDITION; the answer names the blockers, read
  // from `GET /assets/{id}/indexed-assets`.
  TwelveLabsApi* api = deps_->api;
  deps_->api->DeleteAsset(call->opts, req->asset_id(), req->force(),
                          [reactor, api, opts = call->opts, id = req->asset_id()](absl::Status s) {
                            if (s.code() != absl::StatusCode::kFailedPrecondition) {
                              reactor->Finish(ToGrpcStatus(UniformAssetNotFound(s, id)));
                              return;
                            }
                            api->ListAssetIndexedAssets(
                                opts, id, 1, kMaxAssetPageSize,
                                [reactor, id, s](absl::StatusOr<IndexedAssetPage> page) {
                                  reactor->Finish(ToGrpcStatus(AssetInUse(id, s, page)));
                                });
                          });
  return reactor;
}

grpc::ServerUnaryReactor* AssetServiceImpl::IndexAsset(grpc::CallbackServerContext* ctx,
                                                       const gw::IndexAssetRequest* req, gw::IndexedAsset* resp) {
  TLGW_ADMIT("IndexAsset", (std::map<std::string, std::string>{{"index_id", req->index_id()},
                                                                {"asset_id", req->asset_id()}}));
  if (auto s = ValidateIndexAsset(*req); !s.ok()) return FinishNow(ctx, s);
  // Waits for the asset to be ready first (IndexWhenReady); a cancelled
  // call releases its place on the asset's watch at once.
  class Reactor : public grpc::ServerUnaryReactor {
   public:
    explicit Reactor(std::shared_ptr<CancelSlot> slot) : slot_(std::move(slot)) {}
    void OnCancel() override { slot_->Cancel(); }
    void OnDone() override { delete this; }

   private:
    const std::shared_ptr<CancelSlot> slot_;
  };
  auto slot = std::make_shared<CancelSlot>();
  auto* reactor = new Reactor(slot);
  // The gRPC deadline is on the system clock; the wait runs on the
  // gateway's clock (a fake one in tests): carry over the time left.
  absl::Time deadline = absl::InfiniteFuture();
  if (call->opts.deadline != absl::InfiniteFuture()) {
    deadline = deps_->clock->Now() +
               (call->opts.deadline - absl::FromChrono(std::chrono::system_clock::now()));
  }
  slot->Set(IndexWhenReady(*deps_, *call, *req, deadline,
                           [reactor, resp](absl::StatusOr<gw::IndexedAsset> ia) {
                             if (ia.ok()) *resp = *std::move(ia);
                             reactor->Finish(ToGrpcStatus(ia.status()));
                           }));
  return reactor;
}

grpc::ServerUnaryReactor* AssetServiceImpl::GetIndexedAsset(grpc::CallbackServerContext* ctx,
                                                            const gw::GetIndexedAssetRequest* req,
                                                            gw::IndexedAsset* resp) {
  TLGW_ADMIT("GetIndexedAsset", (std::map<std::string, std::string>{{"index_id", req->index_id()},
                                                                     {"indexed_asset_id", req->indexed_asset_id()}}));
  if (auto s = ValidateId("index_id", req->index_id()); !s.ok()) return FinishNow(ctx, s);
  if (auto s = ValidateId("indexed_asset_id", req->indexed_asset_id()); !s.ok()) return FinishNow(ctx, s);
  if (auto s = Authenticator::CheckResources(call->who, {req->index_id(), "", ""}); !s.ok()) {
    return FinishNow(ctx, s);
  }
  if (auto v = CheckOwnedIdVisible(*deps_, call->who, req->indexed_asset_id(),
                                   IndexedAssetNotFound(req->index_id(), req->indexed_asset_id()));
      !v.ok()) {
    return FinishNow(ctx, v);
  }
  auto* reactor = ctx->DefaultReactor();
  deps_->api->GetIndexedAsset(
      call->opts, req->index_id(), req->indexed_asset_id(),
      [reactor, resp, index_id = req->index_id(), id = req->indexed_asset_id()](absl::StatusOr<gw::IndexedAsset> ia) {
        if (ia.ok()) *resp = *std::move(ia);
        reactor->Finish(ToGrpcStatus(UniformIndexedNotFound(ia.status(), index_id, id)));
      });
  return reactor;
}

grpc::ServerUnaryReactor* AssetServiceImpl::ListIndexedAssets(grpc::CallbackServerContext* ctx,
                                                              const gw::ListIndexedAssetsRequest* req,
                                                              gw::ListIndexedAssetsResponse* resp) {
  TLGW_ADMIT("ListIndexedAssets", (std::map<std::string, std::string>{{"index_id", req->index_id()}}));
  if (auto s = ValidateListIndexedAssets(*req); !s.ok()) return FinishNow(ctx, s);
  if (auto s = Authenticator::CheckResources(call->who, {req->index_id(), "", ""}); !s.ok()) {
    return FinishNow(ctx, s);
  }
  OwnedListSource<gw::ListIndexedAssetsResponse, IndexedAssetPage> source;
  source.fetch = [api = deps_->api, opts = call->opts, req](int page, int limit,
                                                            TwelveLabsApi::Done<IndexedAssetPage> done) {
    api->ListIndexedAssets(opts, *req, page, limit, std::move(done));
  };
  source.visible = [deps = deps_](const CallIdentity& who, const gw::ListIndexedAssetsResponse& page) {
    std::vector<std::string> ids;
    for (const gw::IndexedAsset& a : page.indexed_assets()) ids.push_back(a.id());
    return OwnedIdsVisible(*deps, who, ids);
  };
  source.default_page_size = kDefaultAssetPageSize;
  source.max_page_size = kMaxAssetPageSize;
  return StartOwnedList(ctx, *std::move(call), *req, resp, std::move(source));
}

grpc::ServerUnaryReactor* AssetServiceImpl::DeleteIndexedAsset(grpc::CallbackServerContext* ctx,
                                                               const gw::DeleteIndexedAssetRequest* req,
                                                               google::protobuf::Empty*) {
  TLGW_ADMIT("DeleteIndexedAsset", (std::map<std::string, std::string>{
                                       {"index_id", req->index_id()}, {"indexed_asset_id", req->indexed_asset_id()}}));
  if (auto s = ValidateId("index_id", req->index_id()); !s.ok()) return FinishNow(ctx, s);
  if (auto s = ValidateId("indexed_asset_id", req->indexed_asset_id()); !s.ok()) return FinishNow(ctx, s);
  if (auto s = Authenticator::CheckResources(call->who, {req->index_id(), "", ""}); !s.ok()) {
    return FinishNow(ctx, s);
  }
  if (auto v = CheckOwnedIdVisible(*deps_, call->who, req->indexed_asset_id(),
                                   IndexedAssetNotFound(req->index_id(), req->indexed_asset_id()));
      !v.ok()) {
    return FinishNow(ctx, v);
  }
  auto* reactor = ctx->DefaultReactor();
  deps_->api->DeleteIndexedAsset(call->opts, req->index_id(), req->indexed_asset_id(),
                                 [reactor, index_id = req->index_id(), id = req->indexed_asset_id()](absl::Status s) {
                                   reactor->Finish(ToGrpcStatus(UniformIndexedNotFound(s, index_id, id)));
                                 });
  return reactor;
}

#undef TLGW_ADMIT

grpc::ServerWriteReactor<gw::AssetEvent>* AssetServiceImpl::WatchAsset(grpc::CallbackServerContext* ctx,
                                                                       const gw::WatchAssetRequest* req) {
  auto call = Admit(*deps_, ctx, "AssetService.WatchAsset", {{"asset_id", req->asset_id()}});
  if (!call.ok()) return FailedStream<gw::AssetEvent>(call.status());
  absl::Status s = RequireAssets(deps_->api->version(), "WatchAsset");
  if (s.ok()) s = ValidateId("asset_id", req->asset_id());
  if (s.ok() && req->resume_after() < 0) {
    s = FieldError("resume_after", "must be 0 or the sequence of the last event received");
  }
  if (s.ok()) s = CheckOwnedIdVisible(*deps_, call->who, req->asset_id(), AssetNotFound(req->asset_id()));
  if (!s.ok()) return FailedStream<gw::AssetEvent>(s);
  WatchStreamOptions o;
  o.engine = deps_->asset_watches;
  o.scope = call->who.tenant;
  o.subject = req->asset_id();
  o.resume_after = req->resume_after();
  o.end_on_terminal = true;
  o.map_error = [id = req->asset_id()](const absl::Status& e) { return UniformAssetNotFound(e, id); };
  BindRevocation(*deps_, call->who, &o);
  return NewWatchReactor<gw::AssetEvent>(std::move(o));
}

grpc::ServerWriteReactor<gw::IndexedAssetEvent>* AssetServiceImpl::WatchIndexedAsset(
    grpc::CallbackServerContext* ctx, const gw::WatchIndexedAssetRequest* req) {
  auto call = Admit(*deps_, ctx, "AssetService.WatchIndexedAsset",
                    {{"index_id", req->index_id()}, {"indexed_asset_id", req->indexed_asset_id()}});
  if (!call.ok()) return FailedStream<gw::IndexedAssetEvent>(call.status());
  absl::Status s = RequireAssets(deps_->api->version(), "WatchIndexedAsset");
  if (s.ok()) s = ValidateId("index_id", req->index_id());
  if (s.ok()) s = ValidateId("indexed_asset_id", req->indexed_asset_id());
  if (s.ok() && req->resume_after() < 0) {
    s = FieldError("resume_after", "must be 0 or the sequence of the last event received");
  }
  if (s.ok()) s = Authenticator::CheckResources(call->who, {req->index_id(), "", ""});
  if (s.ok()) {
    s = CheckOwnedIdVisible(*deps_, call->who, req->indexed_asset_id(),
                            IndexedAssetNotFound(req->index_id(), req->indexed_asset_id()));
  }
  if (!s.ok()) return FailedStream<gw::IndexedAssetEvent>(s);
  WatchStreamOptions o;
  o.engine = deps_->indexed_asset_watches;
  o.scope = call->who.tenant;
  o.subject = IndexedAssetWatchKind::Subject(req->index_id(), req->indexed_asset_id());
  o.resume_after = req->resume_after();
  o.end_on_terminal = true;
  o.map_error = [index_id = req->index_id(), id = req->indexed_asset_id()](const absl::Status& e) {
    return UniformIndexedNotFound(e, index_id, id);
  };
  BindRevocation(*deps_, call->who, &o);
  return NewWatchReactor<gw::IndexedAssetEvent>(std::move(o));
}

// ---- Uploads of local files (asset_upload.h) ------------------------------------

grpc::ServerReadReactor<gw::UploadAssetRequest>* AssetServiceImpl::UploadAsset(grpc::CallbackServerContext* ctx,
                                                                               gw::Asset* resp) {
  class Refused : public grpc::ServerReadReactor<gw::UploadAssetRequest> {
   public:
    explicit Refused(const absl::Status& s) { Finish(ToGrpcStatus(s)); }
    void OnDone() override { delete this; }
  };
  auto call = Admit(*deps_, ctx, "AssetService.UploadAsset", {});
  if (!call.ok()) return new Refused(call.status());
  // Before a byte is read: nothing of the stream is used on v1.2.
  if (auto s = RequireAssets(deps_->api->version(), "UploadAsset"); !s.ok()) return new Refused(s);
  return NewUploadAssetReactor(deps_, *std::move(call), resp);
}

grpc::ServerReadReactor<gw::UploadAndIndexRequest>* AssetServiceImpl::UploadAndIndex(grpc::CallbackServerContext* ctx,
                                                                                     gw::IndexedAsset* resp) {
  class Refused : public grpc::ServerReadReactor<gw::UploadAndIndexRequest> {
   public:
    explicit Refused(const absl::Status& s) { Finish(ToGrpcStatus(s)); }
    void OnDone() override { delete this; }
  };
  auto call = Admit(*deps_, ctx, "AssetService.UploadAndIndex", {});
  if (!call.ok()) return new Refused(call.status());
  if (auto s = RequireAssets(deps_->api->version(), "UploadAndIndex"); !s.ok()) return new Refused(s);
  return NewUploadAndIndexReactor(deps_, *std::move(call), resp);
}

grpc::ServerUnaryReactor* AssetServiceImpl::GetUpload(grpc::CallbackServerContext* ctx,
                                                      const gw::GetUploadRequest* req, gw::Upload* resp) {
  auto call = Admit(*deps_, ctx, "AssetService.GetUpload", {{"upload_id", req->upload_id()}});
  if (!call.ok()) return FinishNow(ctx, call.status());
  if (auto s = RequireAssets(deps_->api->version(), "GetUpload"); !s.ok()) return FinishNow(ctx, s);
  if (auto s = ValidateId("upload_id", req->upload_id()); !s.ok()) return FinishNow(ctx, s);
  auto not_found = [id = req->upload_id()] {
    return WithErrorInfo(absl::NotFoundError(absl::StrCat("upload ", id, " was not found")), "RESOURCE_NOT_EXIST",
                         kUpstreamDomain);
  };
  // Sessions are owned as assets are: another tenant's is not found.
  if (auto v = CheckOwnedIdVisible(*deps_, call->who, req->upload_id(), not_found()); !v.ok()) {
    return FinishNow(ctx, v);
  }
  auto* reactor = ctx->DefaultReactor();
  deps_->api->GetUpload(call->opts, req->upload_id(), [reactor, resp, not_found](absl::StatusOr<gw::Upload> u) {
    if (u.ok()) *resp = *std::move(u);
    reactor->Finish(ToGrpcStatus(u.status().code() == absl::StatusCode::kNotFound ? not_found() : u.status()));
  });
  return reactor;
}

}  // namespace tlgw
