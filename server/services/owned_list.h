// A listing's page in the making, filtered by owner: ListTasks, ListAssets
// and ListIndexedAssets all read it this way.
//
// Upstream pages are read from the page token's position (the 1-based place
// of the next item in the upstream listing) and every item is checked
// against its owner, so one page can need several reads: until it is full
// and, for a tenant that sees only its own items, the next visible item is
// found (so a last page is never an empty one that would betray other
// tenants' items), the listing ends, or kMaxOwnedListReads reads were made.
// A sole user's page is one upstream page of its own size; the upstream
// count (total_size) is given only to a sole user.
#ifndef TL_GATEWAY_SERVER_SERVICES_OWNED_LIST_H_
#define TL_GATEWAY_SERVER_SERVICES_OWNED_LIST_H_

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/common/status_details.h"
#include "server/services/create_flow.h"
#include "server/services/deps.h"
#include "server/services/page_token.h"
#include "server/services/reactor_util.h"
#include "server/twelvelabs/api.h"

namespace tlgw {

inline constexpr int kMaxOwnedListReads = 10;

// The body of each upstream page type, and the items of each response.
inline twelvelabs::gateway::v1::ListTasksResponse& PageBody(TaskPage& p) { return p.tasks; }
inline twelvelabs::gateway::v1::ListAssetsResponse& PageBody(AssetPage& p) { return p.assets; }
inline twelvelabs::gateway::v1::ListIndexedAssetsResponse& PageBody(IndexedAssetPage& p) {
  return p.indexed_assets;
}
inline auto* ListItems(twelvelabs::gateway::v1::ListTasksResponse& r) { return r.mutable_tasks(); }
inline auto* ListItems(twelvelabs::gateway::v1::ListAssetsResponse& r) { return r.mutable_assets(); }
inline auto* ListItems(twelvelabs::gateway::v1::ListIndexedAssetsResponse& r) {
  return r.mutable_indexed_assets();
}

// How one listing reads and filters: `fetch` reads upstream page `page` of
// `limit` items; `visible` says which items of a page the caller may see.
template <typename Resp, typename Page>
struct OwnedListSource {
  std::function<void(int page, int limit, TwelveLabsApi::Done<Page>)> fetch;
  std::function<absl::StatusOr<std::vector<bool>>(const CallIdentity& who, const Resp& page)> visible;
  int default_page_size;
  int max_page_size;  // also the upstream page size when filtering others' items out
};

namespace owned_list_internal {

template <typename Resp, typename Page>
struct Scan {
  grpc::ServerUnaryReactor* reactor;
  Resp* resp;
  Admitted call;
  PageToken token;  // .page is the upstream position of the next item
  int64_t limit;    // upstream page size
  int reads = 0;
  OwnedListSource<Resp, Page> source;
};

template <typename Resp, typename Page>
void ReadPage(std::shared_ptr<Scan<Resp, Page>> scan) {
  const int64_t page = (scan->token.page - 1) / scan->limit + 1;
  scan->source.fetch(static_cast<int>(page), static_cast<int>(scan->limit), [scan, page](absl::StatusOr<Page> r) {
    ++scan->reads;
    if (!r.ok()) {
      scan->reactor->Finish(ToGrpcStatus(r.status()));
      return;
    }
    Resp& body = PageBody(*r);
    auto visible = scan->source.visible(scan->call.who, body);
    if (!visible.ok()) {
      scan->reactor->Finish(ToGrpcStatus(visible.status()));
      return;
    }
    const bool sole = scan->call.who.sole_user;
    // The upstream count is the account's; only its declared sole user may
    // learn it.
    if (sole) scan->resp->set_total_size(body.total_size());
    const int64_t first = (page - 1) * scan->limit + 1;  // position of this page's first item
    auto* items = ListItems(body);
    const int n = items->size();
    auto finish = [&scan](int64_t next) {
      if (next > 0) {
        PageToken t = scan->token;
        t.page = next;
        scan->resp->set_next_page_token(EncodePageToken(t));
      }
      scan->reactor->Finish(grpc::Status::OK);
    };
    for (int64_t i = std::max<int64_t>(0, scan->token.page - first); i < n; ++i) {
      if (!(*visible)[static_cast<size_t>(i)]) continue;
      if (ListItems(*scan->resp)->size() >= scan->token.page_size) return finish(first + i);
      *ListItems(*scan->resp)->Add() = std::move(*items->Mutable(static_cast<int>(i)));
    }
    // More pages when upstream says so; if it sent no page_info, a full
    // page suggests there may be more.
    const bool more = r->total_pages > 0 ? page < r->total_pages : n >= scan->limit && n > 0;
    const int64_t next = page * scan->limit + 1;
    if (!more) return finish(0);
    // A sole user's full page ends here, as upstream's would.
    if (sole && ListItems(*scan->resp)->size() >= scan->token.page_size) return finish(next);
    if (scan->reads >= kMaxOwnedListReads) return finish(next);
    scan->token.page = next;
    ReadPage(scan);
  });
}

}  // namespace owned_list_internal

// Starts a listing answered into `resp`. The page token's fingerprint ties
// it to `req`'s filters (the request without paging) and to whether the
// tenant is a sole user (a reload may change that). The page size of the
// first request holds for the whole listing: the API pages by number, so a
// new size would skip or repeat items.
template <typename Resp, typename Page, typename Req>
grpc::ServerUnaryReactor* StartOwnedList(grpc::CallbackServerContext* ctx, Admitted call, const Req& req,
                                         Resp* resp, OwnedListSource<Resp, Page> source) {
  const bool sole = call.who.sole_user;
  Req filters = req;
  filters.clear_page_size();
  filters.clear_page_token();
  std::string fp = absl::StrCat(RequestFingerprint(filters).substr(0, 16), sole ? "s" : "o");
  PageToken token{1, req.page_size() > 0 ? req.page_size() : source.default_page_size, fp};
  if (!req.page_token().empty()) {
    auto decoded = DecodePageToken("page_token", req.page_token(), fp);
    if (!decoded.ok()) return FinishNow(ctx, decoded.status());
    token = *decoded;
  }
  auto scan = std::make_shared<owned_list_internal::Scan<Resp, Page>>();
  scan->reactor = ctx->DefaultReactor();
  scan->resp = resp;
  scan->call = std::move(call);
  scan->token = token;
  // Others' pages are filled from upstream pages of the largest size, most
  // of which may be others' items.
  scan->limit = sole ? token.page_size : source.max_page_size;
  scan->source = std::move(source);
  auto* reactor = scan->reactor;
  owned_list_internal::ReadPage(std::move(scan));
  return reactor;
}

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_OWNED_LIST_H_
