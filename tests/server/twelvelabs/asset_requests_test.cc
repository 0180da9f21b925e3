// The REST requests of the asset and indexed-asset operations (§9.1-9.5).
#include <gtest/gtest.h>

#include <map>

#include "server/twelvelabs/requests.h"
#include <nlohmann/json.hpp>

namespace tlgw {
namespace {

namespace gw = ::twelvelabs::gateway::v1;

std::map<std::string, std::string> Form(const RestCall& call) {
  std::map<std::string, std::string> out;
  for (const auto& p : call.form) out[p.name] = p.value;
  return out;
}

TEST(CreateAssetCall, UrlMethodWithEveryOption) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/a b.mp4");
  req.set_filename("a.mp4");
  req.set_enable_hls(true);
  req.set_enable_thumbnail(false);
  (*req.mutable_user_metadata()->mutable_fields())["take"].set_number_value(3);
  req.set_request_id("r1");
  auto call = CreateAssetCall(req);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->method, "POST");
  EXPECT_EQ(call->path, "/assets");
  EXPECT_TRUE(call->json_body.empty());
  auto form = Form(*call);
  EXPECT_EQ(form.size(), 6u);
  EXPECT_EQ(form["method"], "url");
  EXPECT_EQ(form["url"], "https://cdn.example.com/a b.mp4");
  EXPECT_EQ(form["filename"], "a.mp4");
  EXPECT_EQ(form["enable_hls"], "true");
  EXPECT_EQ(form["enable_thumbnail"], "false");
  // A string holding a JSON object (§9.1).
  EXPECT_EQ(form["user_metadata"], R"({"take":3})");
  for (const auto& p : call->form) EXPECT_FALSE(p.filename.has_value()) << p.name;
}

TEST(CreateAssetCall, UnsetOptionsAreLeftToUpstreamDefaults) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/a.mp4");
  auto call = CreateAssetCall(req);
  ASSERT_TRUE(call.ok());
  auto form = Form(*call);
  EXPECT_EQ(form.size(), 2u);
  EXPECT_EQ(form.count("filename"), 0u);
  EXPECT_EQ(form.count("enable_hls"), 0u);
}

TEST(CreateAssetCall, NestedUserMetadataIsRefused) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/a.mp4");
  (*req.mutable_user_metadata()->mutable_fields())["n"].mutable_struct_value();
  EXPECT_EQ(CreateAssetCall(req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AssetCalls, GetAndDelete) {
  auto get = GetAssetCall("6900aa11bb22cc33dd44ee55");
  EXPECT_EQ(get.method, "GET");
  EXPECT_EQ(get.path, "/assets/6900aa11bb22cc33dd44ee55");
  auto del = DeleteAssetCall("6900aa11bb22cc33dd44ee55", false);
  EXPECT_EQ(del.method, "DELETE");
  EXPECT_EQ(del.path, "/assets/6900aa11bb22cc33dd44ee55");
  EXPECT_EQ(DeleteAssetCall("a/b", true).path, "/assets/a%2Fb?force=true");
}

TEST(AssetCalls, TheIndexedAssetsOfAnAsset) {
  auto list = AssetIndexedAssetsCall("6900aa11bb22cc33dd44ee55", 1, 50);
  EXPECT_EQ(list.method, "GET");
  EXPECT_EQ(list.path, "/assets/6900aa11bb22cc33dd44ee55/indexed-assets?page=1&page_limit=50");
}

TEST(ListAssetsCall, FiltersRepeatedAndPaging) {
  gw::ListAssetsRequest req;
  req.add_asset_ids("a1");
  req.add_asset_ids("a2");
  req.add_asset_types(gw::ASSET_TYPE_VIDEO);
  req.add_asset_types(gw::ASSET_TYPE_AUDIO);
  req.set_filename("my clip&");
  req.set_page_size(99);  // paging comes from the arguments
  auto call = ListAssetsCall(req, 3, 20);
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.path,
            "/assets?page=3&page_limit=20&asset_ids=a1&asset_ids=a2&asset_types=video&"
            "asset_types=audio&filename=my%20clip%26");
  EXPECT_EQ(ListAssetsCall(gw::ListAssetsRequest(), 1, 10).path, "/assets?page=1&page_limit=10");
}

TEST(CreateIndexedAssetCall, JsonBodyWithObjectMetadata) {
  gw::IndexAssetRequest req;
  req.set_index_id("0123456789abcdef01234567");
  req.set_asset_id("6900aa11bb22cc33dd44ee55");
  req.set_enable_video_stream(true);
  (*req.mutable_user_metadata()->mutable_fields())["team"].set_string_value("news");
  auto call = CreateIndexedAssetCall(req);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->method, "POST");
  EXPECT_EQ(call->path, "/indexes/0123456789abcdef01234567/indexed-assets");
  EXPECT_TRUE(call->form.empty());
  auto body = nlohmann::json::parse(call->json_body);
  EXPECT_EQ(body, nlohmann::json::parse(R"({"asset_id":"6900aa11bb22cc33dd44ee55",
      "enable_video_stream":true,"user_metadata":{"team":"news"}})"));

  gw::IndexAssetRequest bare;
  bare.set_index_id("i");
  bare.set_asset_id("a");
  EXPECT_EQ(nlohmann::json::parse(CreateIndexedAssetCall(bare)->json_body),
            nlohmann::json::parse(R"({"asset_id":"a"})"));
  (*bare.mutable_user_metadata()->mutable_fields())["x"].set_null_value({});
  EXPECT_EQ(CreateIndexedAssetCall(bare).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(IndexedAssetCalls, GetAndDelete) {
  auto get = GetIndexedAssetCall("idx", "ia1");
  EXPECT_EQ(get.method, "GET");
  EXPECT_EQ(get.path, "/indexes/idx/indexed-assets/ia1");
  auto del = DeleteIndexedAssetCall("idx", "ia1");
  EXPECT_EQ(del.method, "DELETE");
  EXPECT_EQ(del.path, "/indexes/idx/indexed-assets/ia1");
}

TEST(ListIndexedAssetsCall, EveryFilterIncludingRanges) {
  gw::ListIndexedAssetsRequest req;
  req.set_index_id("idx");
  req.add_statuses(gw::INDEXED_ASSET_STATUS_READY);
  req.add_statuses(gw::INDEXED_ASSET_STATUS_FAILED);
  req.set_filename("c.mp4");
  req.mutable_duration_seconds()->set_min(10.5);
  req.mutable_duration_seconds()->set_max(60);
  req.mutable_fps()->set_equal(25);
  req.mutable_width()->set_min(640);
  req.mutable_height()->set_max(1080);
  req.mutable_size_bytes()->set_max(1e9);
  req.mutable_create_time()->mutable_on_day_from()->set_seconds(1784541600);
  req.mutable_update_time()->mutable_start_time()->set_seconds(1784541600);
  req.mutable_update_time()->mutable_end_time()->set_seconds(1784545200);
  (*req.mutable_user_metadata())["team"] = "news desk";
  (*req.mutable_user_metadata())["a"] = "1";
  req.set_sort_by(gw::INDEXED_ASSET_SORT_FIELD_UPDATE_TIME);
  req.set_sort_order(gw::SORT_ORDER_ASCENDING);
  auto call = ListIndexedAssetsCall(req, 2, 50);
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.path,
            "/indexes/idx/indexed-assets?page=2&page_limit=50&sort_by=updated_at&sort_option=asc&"
            "status=ready&status=failed&filename=c.mp4&duration[gte]=10.5&duration[lte]=60&"
            "fps=25&width[gte]=640&height[lte]=1080&size[lte]=1000000000&"
            "created_at=2026-07-20T10%3A00%3A00.000Z&"
            "updated_at[gte]=2026-07-20T10%3A00%3A00.000Z&"
            "updated_at[lte]=2026-07-20T11%3A00%3A00.000Z&a=1&team=news%20desk");
}

}  // namespace
}  // namespace tlgw
