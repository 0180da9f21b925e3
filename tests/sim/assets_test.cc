// The v1.3 asset endpoints (docs/upstream-api.md §9): assets, multipart
// upload sessions with presigned PUTs, indexed assets, their lifecycles on
// the manual clock, and faults on the new paths.
#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "sim/simulator.h"
#include "tests/sim/sim_test_util.h"

namespace tlsim::testing {
namespace {

using nlohmann::json;

std::string Sha256Raw(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string Sha256Hex(const std::string& data) { return absl::BytesToHexString(Sha256Raw(data)); }

// Deterministic bytes that differ per chunk.
std::string Bytes(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed * 7 + i / 97) & 0xff);
  return s;
}

class AssetsTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(TestOptions()); }

  void Start(SimulatorOptions options) {
    client_.reset();
    sim_.reset();
    options.max_asset_file_bytes = 64 << 10;
    sim_ = StartOrDie(options);
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<SimClient>(sim_->port());
  }

  HttpResult Direct(const std::string& filename, const std::string& content,
                    httplib::MultipartFormDataItems extra = {}) {
    extra.push_back({"method", "direct", "", ""});
    extra.push_back({"file", content, filename, "application/octet-stream"});
    return client_->PostForm("/v1.3/assets", extra);
  }

  std::string UrlAsset(const std::string& url, httplib::MultipartFormDataItems extra = {}) {
    extra.push_back({"method", "url", "", ""});
    extra.push_back({"url", url, "", ""});
    HttpResult r = client_->PostForm("/v1.3/assets", extra);
    EXPECT_TRUE(IsJsonStatus(r, 201));
    return r.json.value("_id", "");
  }

  // A ready asset (advances the clock one stage).
  std::string ReadyAsset(const std::string& url) {
    std::string id = UrlAsset(url);
    client_->Advance(2);
    return id;
  }

  std::string IndexAsset(const std::string& asset_id, json extra = json::object()) {
    extra["asset_id"] = asset_id;
    HttpResult r = client_->PostJson(absl::StrCat("/v1.3/indexes/", kSeedIndex, "/indexed-assets"),
                                     extra);
    EXPECT_TRUE(IsJsonStatus(r, 202));
    EXPECT_EQ(r.json.value("asset_id", ""), asset_id);
    return r.json.value("_id", "");
  }

  // PUT to a presigned URL (absolute, pointing at the simulator).
  HttpResult Put(const std::string& url, const std::string& body) {
    const std::string origin = absl::StrCat("http://127.0.0.1:", sim_->port());
    EXPECT_TRUE(absl::StartsWith(url, origin)) << url;
    httplib::Client cli("127.0.0.1", sim_->port());
    cli.set_read_timeout(10, 0);
    httplib::Result r = cli.Put(url.substr(origin.size()), body, "application/octet-stream");
    HttpResult out;
    out.error = r.error();
    if (!r) return out;
    out.transport_ok = true;
    out.status = r->status;
    out.headers = r->headers;
    out.body = r->body;
    return out;
  }

  HttpResult Send(const std::string& method, const std::string& path, const json& body) {
    httplib::Client cli("127.0.0.1", sim_->port());
    httplib::Headers h = {{"x-api-key", kKey}};
    httplib::Result r = method == "PATCH" ? cli.Patch(path, h, body.dump(), "application/json")
                                          : cli.Put(path, h, body.dump(), "application/json");
    HttpResult out;
    if (!r) return out;
    out.transport_ok = true;
    out.status = r->status;
    out.headers = r->headers;
    out.body = r->body;
    out.json = json::parse(out.body, nullptr, false);
    return out;
  }

  std::string IndexedPath(const std::string& id = "") {
    return absl::StrCat("/v1.3/indexes/", kSeedIndex, "/indexed-assets", id.empty() ? "" : "/",
                        id);
  }

  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<SimClient> client_;
};

// ---- Assets ---------------------------------------------------------------------

TEST_F(AssetsTest, DirectUploadIsProcessingThenReady) {
  const std::string content = Bytes(5000, 1);
  HttpResult r = Direct("clip.mp4", content,
                        {{"enable_hls", "true", "", ""},
                         {"enable_thumbnail", "True", "", ""},
                         {"user_metadata", R"({"team":"a","n":3})", "", ""}});
  ASSERT_TRUE(IsJsonStatus(r, 201));
  EXPECT_EQ(r.json["status"], "processing");
  EXPECT_EQ(r.json["method"], "direct");
  EXPECT_EQ(r.json["filename"], "clip.mp4");
  EXPECT_EQ(r.json["file_type"], "video/mp4");
  EXPECT_EQ(r.json["user_metadata"], json({{"team", "a"}, {"n", 3}}));
  EXPECT_EQ(r.json["hls"]["status"], "processing");
  EXPECT_FALSE(r.json.contains("size")) << "size is final only at ready";
  const std::string id = r.json["_id"];
  ASSERT_EQ(id.size(), 24u);

  client_->Advance(1.9);
  EXPECT_EQ(client_->Get("/v1.3/assets/" + id).json["status"], "processing");
  client_->Advance(0.1);
  HttpResult got = client_->Get("/v1.3/assets/" + id);
  ASSERT_TRUE(IsJsonStatus(got, 200));
  EXPECT_EQ(got.json["status"], "ready");
  EXPECT_EQ(got.json["size"], 5000);
  EXPECT_GT(got.json["duration"].get<double>(), 0);
  EXPECT_GT(got.json["technical_metadata"]["video_width"].get<int>(), 0);
  EXPECT_EQ(got.json["hls"]["status"], "ready");
  EXPECT_TRUE(got.json["hls"].contains("manifest_url"));
  EXPECT_EQ(got.json["thumbnail"]["status"], "ready");
  EXPECT_FALSE(got.json.contains("error"));

  // The file part was streamed and hashed: the log has its size and digest.
  HttpResult log = client_->Control("GET", "/_sim/requests?path_contains=/assets");
  ASSERT_TRUE(IsJsonStatus(log, 200));
  const json& entry = log.json["requests"][0];
  EXPECT_EQ(entry["form"]["method"], "direct");
  EXPECT_EQ(entry["files"]["file"]["size"], 5000);
  EXPECT_EQ(entry["files"]["file"]["sha256"], Sha256Hex(content));
}

TEST_F(AssetsTest, BrokenUrlFailsWithReason) {
  const std::string id = UrlAsset("https://cdn.test/broken-clip.mp4");
  EXPECT_EQ(client_->Get("/v1.3/assets/" + id).json["status"], "processing");
  client_->Advance(2);
  HttpResult r = client_->Get("/v1.3/assets/" + id);
  EXPECT_EQ(r.json["status"], "failed");
  EXPECT_EQ(r.json["method"], "url");
  EXPECT_FALSE(r.json["error"]["message"].get<std::string>().empty());
  // A broken file name does the same for direct uploads.
  HttpResult d = Direct("broken.mov", "xyz");
  client_->Advance(2);
  EXPECT_EQ(client_->Get("/v1.3/assets/" + d.json["_id"].get<std::string>()).json["status"],
            "failed");
}

TEST_F(AssetsTest, CreateAssetErrors) {
  EXPECT_TRUE(IsApiError(client_->PostForm("/v1.3/assets", {{"url", "https://a.test/x.mp4", "", ""}}),
                         400, "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(client_->PostForm("/v1.3/assets", {{"method", "ftp", "", ""}}), 400,
                         "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostForm("/v1.3/assets", {{"method", "direct", "", ""}}), 400,
                         "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(client_->PostForm("/v1.3/assets", {{"method", "url", "", ""}}), 400,
                         "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(Direct("a.mp4", "abc", {{"index_id", kSeedIndex, "", ""}}), 400,
                         "parameter_unknown"));
  EXPECT_TRUE(IsApiError(Direct("a.mp4", ""), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(Direct("a.mp4", Bytes((64 << 10) + 1, 2)), 400, "parameter_invalid"))
      << "over --max_asset_file_bytes";
  EXPECT_TRUE(IsApiError(Direct("a.mp4", "abc", {{"user_metadata", "[1]", "", ""}}), 400,
                         "parameter_invalid"));
  EXPECT_TRUE(IsApiError(Direct("a.mp4", "abc", {{"enable_hls", "yes", "", ""}}), 400,
                         "parameter_invalid"));
  EXPECT_TRUE(IsApiError(Direct("a.mp4", "abc", {{"filename", std::string(256, 'x'), "", ""}}),
                         400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostForm("/v1.3/assets", {{"method", "url", "", ""},
                                                            {"url", "https://youtu.be/abc", "", ""}}),
                         400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostJson("/v1.3/assets", {{"method", "url"}}), 400,
                         "content_type_invalid"));
  client_->set_api_key("wrong");
  EXPECT_TRUE(IsApiError(Direct("a.mp4", "abc"), 401, "api_key_invalid"));
}

TEST_F(AssetsTest, GetAssetErrorsAndV12) {
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets/nothex"), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets/0123456789abcdef0123abcd"), 404,
                         "resource_not_exist"));
  const std::string id = UrlAsset("https://cdn.test/a.mp4");
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets/" + id + "?x=1"), 400, "parameter_unknown"));
  // §9 is v1.3 only: v1.2 answers as for any unknown route.
  for (const std::string path : {"/v1.2/assets/" + id, std::string("/v1.2/assets"),
                                 "/v1.2/assets/multipart-uploads/" + id}) {
    HttpResult r = client_->Get(path);
    EXPECT_TRUE(IsApiError(r, 404, "resource_not_exist")) << path;
    EXPECT_TRUE(absl::StrContains(r.body, "No endpoint")) << r.body;
  }
  EXPECT_TRUE(IsApiError(client_->PostForm("/v1.2/assets", {{"method", "url", "", ""}}), 404,
                         "resource_not_exist"));
}

TEST_F(AssetsTest, ListAssetsPagesAndFilters) {
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    const char* ext = i % 3 == 0 ? "mp4" : i % 3 == 1 ? "mp3" : "jpg";
    ids.push_back(UrlAsset(absl::StrCat("https://cdn.test/Clip-", i, ".", ext)));
  }
  HttpResult page = client_->Get("/v1.3/assets?page=3&page_limit=5");
  ASSERT_TRUE(IsJsonStatus(page, 200));
  EXPECT_EQ(page.json["page_info"],
            json({{"limit_per_page", 5}, {"page", 3}, {"total_page", 3}, {"total_results", 12}}));
  ASSERT_EQ(page.json["data"].size(), 2u);
  EXPECT_EQ(page.json["data"][1]["_id"], ids[0]) << "newest first";
  HttpResult first = client_->Get("/v1.3/assets");
  EXPECT_EQ(first.json["data"].size(), 10u) << "page_limit defaults to 10";
  EXPECT_EQ(first.json["data"][0]["_id"], ids[11]);

  HttpResult audio = client_->Get("/v1.3/assets?asset_types=audio&page_limit=50");
  EXPECT_EQ(audio.json["page_info"]["total_results"], 4);
  for (const json& a : audio.json["data"]) EXPECT_EQ(a["file_type"], "audio/mpeg");
  HttpResult two = client_->Get("/v1.3/assets?asset_types=audio&asset_types=image");
  EXPECT_EQ(two.json["page_info"]["total_results"], 8);
  HttpResult named = client_->Get("/v1.3/assets?filename=clip-1");  // case-insensitive substring
  EXPECT_EQ(named.json["page_info"]["total_results"], 3);            // 1, 10, 11
  HttpResult by_id =
      client_->Get(absl::StrCat("/v1.3/assets?asset_ids=", ids[2], "&asset_ids=", ids[5]));
  EXPECT_EQ(by_id.json["page_info"]["total_results"], 2);

  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets?page_limit=51"), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets?page=0"), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets?asset_types=doc"), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets?asset_ids=zz"), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets?status=ready"), 400, "parameter_unknown"));
}

TEST_F(AssetsTest, DeleteReferencedAssetIs409UnlessForced) {
  const std::string asset = ReadyAsset("https://cdn.test/a.mp4");
  const std::string indexed = IndexAsset(asset);
  HttpResult refused = client_->Delete("/v1.3/assets/" + asset);
  EXPECT_TRUE(IsApiError(refused, 409, "asset_in_use"));
  EXPECT_TRUE(absl::StrContains(refused.body, indexed)) << refused.body;
  HttpResult blockers = client_->Get("/v1.3/assets/" + asset + "/indexed-assets");
  ASSERT_TRUE(IsJsonStatus(blockers, 200));
  ASSERT_EQ(blockers.json["data"].size(), 1u);
  EXPECT_EQ(blockers.json["data"][0]["_id"], indexed);
  EXPECT_EQ(blockers.json["data"][0]["index_id"], kSeedIndex);
  EXPECT_TRUE(IsApiError(client_->Delete("/v1.3/assets/" + asset + "?force=maybe"), 400,
                         "parameter_invalid"));

  HttpResult forced = client_->Delete("/v1.3/assets/" + asset + "?force=true");
  EXPECT_EQ(forced.status, 200) << forced.Describe();
  EXPECT_TRUE(forced.body.empty());
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets/" + asset), 404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->Delete("/v1.3/assets/" + asset), 404, "resource_not_exist"));
  // The indexed asset outlives it.
  EXPECT_TRUE(IsJsonStatus(client_->Get(IndexedPath(indexed)), 200));

  // 204 when configured as the older doc had it; unreferenced: no force needed.
  ASSERT_TRUE(IsJsonStatus(
      client_->Control("POST", "/_sim/assets/config", {{"empty_success_status", 204}}), 200));
  const std::string other = UrlAsset("https://cdn.test/b.mp4");
  EXPECT_EQ(client_->Delete("/v1.3/assets/" + other).status, 204);
}

TEST_F(AssetsTest, UserMetadataMergeReplaceClear) {
  const std::string id = UrlAsset("https://cdn.test/a.mp4", {{"user_metadata", R"({"a":1})", "", ""}});
  const std::string path = "/v1.3/assets/" + id + "/user-metadata";
  EXPECT_EQ(Send("PATCH", path, {{"user_metadata", {{"b", "x"}}}}).status, 200);
  EXPECT_EQ(client_->Get("/v1.3/assets/" + id).json["user_metadata"], json({{"a", 1}, {"b", "x"}}));
  EXPECT_EQ(Send("PUT", path, {{"user_metadata", {{"c", true}}}}).status, 200);
  EXPECT_EQ(client_->Get("/v1.3/assets/" + id).json["user_metadata"], json({{"c", true}}));
  EXPECT_TRUE(IsApiError(Send("PATCH", path, {{"meta", json::object()}}), 400, "parameter_unknown"));
  EXPECT_EQ(client_->Delete(path).status, 200);
  EXPECT_FALSE(client_->Get("/v1.3/assets/" + id).json.contains("user_metadata"));
  EXPECT_TRUE(IsApiError(client_->Delete("/v1.3/assets/0123456789abcdef0123abcd/user-metadata"),
                         404, "resource_not_exist"));
}

// ---- Indexed assets -------------------------------------------------------------

TEST_F(AssetsTest, IndexedAssetWalksPendingQueuedIndexingReady) {
  const std::string asset = UrlAsset("https://cdn.test/a.mp4");
  // Not ready yet: refused.
  EXPECT_TRUE(IsApiError(client_->PostJson(IndexedPath(), {{"asset_id", asset}}), 400,
                         "parameter_invalid"));
  client_->Advance(2);
  HttpResult created = client_->PostJson(
      IndexedPath(),
      {{"asset_id", asset}, {"enable_video_stream", true}, {"user_metadata", {{"k", "v"}}}});
  ASSERT_TRUE(IsJsonStatus(created, 202));
  EXPECT_FALSE(created.Header("X-Ratelimit-Limit").empty()) << "the index rate category";
  const std::string id = created.json["_id"];
  std::string last_updated;
  for (const char* want : {"pending", "queued", "indexing", "ready"}) {
    HttpResult r = client_->Get(IndexedPath(id));
    ASSERT_TRUE(IsJsonStatus(r, 200));
    EXPECT_EQ(r.json["status"], want);
    EXPECT_NE(r.json["updated_at"], last_updated) << "updated_at moves with each transition";
    last_updated = r.json["updated_at"];
    EXPECT_EQ(r.json["asset_id"], asset);
    EXPECT_EQ(r.json["system_metadata"]["filename"], "a.mp4");
    EXPECT_EQ(r.json["user_metadata"], json({{"k", "v"}}));
    EXPECT_EQ(r.json.contains("indexed_at"), std::string(want) == "ready");
    EXPECT_EQ(r.json["hls"]["status"], std::string(want) == "ready" ? "COMPLETE" : "PROCESSING");
    client_->Advance(2);
  }
  // An asset named "unindexable" indexes to failed.
  const std::string bad = IndexAsset(ReadyAsset("https://cdn.test/unindexable.mp4"));
  client_->Advance(5.9);
  EXPECT_EQ(client_->Get(IndexedPath(bad)).json["status"], "indexing");
  client_->Advance(0.1);
  EXPECT_EQ(client_->Get(IndexedPath(bad)).json["status"], "failed");
  // Forced through the control API.
  HttpResult forced =
      client_->Control("POST", "/_sim/indexed-assets/" + id + "/status", {{"status", "failed"}});
  ASSERT_TRUE(IsJsonStatus(forced, 200));
  EXPECT_EQ(client_->Get(IndexedPath(id)).json["status"], "failed");
}

TEST_F(AssetsTest, IndexedAssetErrors) {
  const std::string asset = ReadyAsset("https://cdn.test/a.mp4");
  const std::string other_index = "0123456789abcdef0123abcd";
  EXPECT_TRUE(IsApiError(client_->PostJson("/v1.3/indexes/" + other_index + "/indexed-assets",
                                           {{"asset_id", asset}}),
                         404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->PostJson("/v1.3/indexes/xyz/indexed-assets", {{"asset_id", asset}}),
                         400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostJson(IndexedPath(), {{"asset_id", other_index}}), 404,
                         "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->PostJson(IndexedPath(), json::object()), 400,
                         "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(client_->PostJson(IndexedPath(), {{"asset_id", asset}, {"index_id", "x"}}),
                         400, "parameter_unknown"));
  EXPECT_TRUE(IsApiError(
      client_->PostJson(IndexedPath(), {{"asset_id", asset}, {"enable_video_stream", "yes"}}), 400,
      "parameter_invalid"));
  const std::string id = IndexAsset(asset);
  EXPECT_TRUE(IsApiError(client_->Get(IndexedPath("nothex")), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get(IndexedPath(other_index)), 404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/indexes/" + other_index + "/indexed-assets/" + id),
                         404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.2/indexes/" + std::string(kSeedIndex) +
                                      "/indexed-assets/" + id),
                         404, "resource_not_exist"));
  // Delete, then it is gone.
  HttpResult deleted = client_->Delete(IndexedPath(id));
  EXPECT_EQ(deleted.status, 200) << deleted.Describe();
  EXPECT_TRUE(IsApiError(client_->Get(IndexedPath(id)), 404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->Delete(IndexedPath(id)), 404, "resource_not_exist"));
  // With its indexed asset gone, the asset deletes without force.
  EXPECT_EQ(client_->Delete("/v1.3/assets/" + asset).status, 200);
}

TEST_F(AssetsTest, ListIndexedAssetsWithEveryFilter) {
  std::vector<std::string> ids;
  std::vector<json> objects;
  for (int i = 0; i < 6; ++i) {
    const std::string asset = ReadyAsset(absl::StrCat("https://cdn.test/Film-", i, ".mp4"));
    ids.push_back(IndexAsset(asset, {{"user_metadata", {{"team", i % 2 ? "odd" : "even"},
                                                         {"n", i}}}}));
  }
  client_->Advance(2);  // the last is queued, the others further along
  for (const std::string& id : ids) objects.push_back(client_->Get(IndexedPath(id)).json);

  HttpResult all = client_->Get(IndexedPath() + "?page_limit=4&page=2");
  ASSERT_TRUE(IsJsonStatus(all, 200));
  EXPECT_EQ(all.json["page_info"],
            json({{"limit_per_page", 4}, {"page", 2}, {"total_page", 2}, {"total_results", 6}}));
  EXPECT_EQ(all.json["data"][1]["_id"], ids[0]) << "created_at desc by default";
  HttpResult asc = client_->Get(IndexedPath() + "?sort_option=asc&sort_by=updated_at");
  EXPECT_EQ(asc.json["data"][0]["_id"], ids[0]);

  HttpResult ready = client_->Get(IndexedPath() + "?status=ready");
  EXPECT_EQ(ready.json["page_info"]["total_results"], 4);
  HttpResult two = client_->Get(IndexedPath() + "?status=queued&status=indexing");
  EXPECT_EQ(two.json["page_info"]["total_results"], 2);
  EXPECT_EQ(client_->Get(IndexedPath() + "?team=odd").json["page_info"]["total_results"], 3);
  EXPECT_EQ(client_->Get(IndexedPath() + "?team=odd&n=3").json["page_info"]["total_results"], 1);
  EXPECT_EQ(client_->Get(IndexedPath() + "?filename=film-2").json["page_info"]["total_results"], 1);

  // Ranges: pick bounds from the objects' own metadata.
  for (const char* field : {"duration", "width", "height", "fps", "size"}) {
    std::vector<double> values;
    for (const json& o : objects) values.push_back(o["system_metadata"][field].get<double>());
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const double lo = sorted[1], hi = sorted[4];
    int want = 0;
    for (double v : values) want += v >= lo && v <= hi;
    HttpResult r = client_->Get(
        absl::StrCat(IndexedPath(), "?", field, "[gte]=", json(lo).dump(), "&", field,
                     "[lte]=", json(hi).dump()));
    ASSERT_TRUE(IsJsonStatus(r, 200)) << field;
    EXPECT_EQ(r.json["page_info"]["total_results"], want) << field;
    int exact = 0;
    for (double v : values) exact += std::abs(v - values[0]) < 1e-3;
    EXPECT_EQ(client_->Get(absl::StrCat(IndexedPath(), "?", field, "=", json(values[0]).dump()))
                  .json["page_info"]["total_results"],
              exact)
        << field;
  }
  const std::string created = objects[2]["created_at"];
  HttpResult since = client_->Get(IndexedPath() + "?created_at[gte]=" + created);
  EXPECT_EQ(since.json["page_info"]["total_results"], 4);
  HttpResult until = client_->Get(IndexedPath() + "?created_at[lte]=" + created);
  EXPECT_EQ(until.json["page_info"]["total_results"], 3);
  EXPECT_EQ(client_->Get(IndexedPath() + "?created_at=" + created).json["page_info"]["total_results"],
            4)
      << "on that date at or after, as tasks";

  EXPECT_TRUE(IsApiError(client_->Get(IndexedPath() + "?duration[gt]=3"), 400, "parameter_unknown"));
  EXPECT_TRUE(IsApiError(client_->Get(IndexedPath() + "?team[gte]=3"), 400, "parameter_unknown"));
  EXPECT_TRUE(IsApiError(client_->Get(IndexedPath() + "?width[gte]=wide"), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get(IndexedPath() + "?status=done"), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get(IndexedPath() + "?sort_by=name"), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get(IndexedPath() + "?page_limit=51"), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/indexes/0123456789abcdef0123abcd/indexed-assets"), 404,
                         "resource_not_exist"));
}

TEST_F(AssetsTest, PatchIndexedAssetMergesMetadata) {
  const std::string id = IndexAsset(ReadyAsset("https://cdn.test/a.mp4"), {{"user_metadata", {{"a", 1}}}});
  EXPECT_EQ(Send("PATCH", IndexedPath(id), {{"user_metadata", {{"b", 2}}}}).status, 200);
  EXPECT_EQ(client_->Get(IndexedPath(id)).json["user_metadata"], json({{"a", 1}, {"b", 2}}));
  EXPECT_TRUE(IsApiError(Send("PATCH", IndexedPath(id), {{"user_metadata", {{"b", json::array()}}}}),
                         400, "parameter_invalid"));
}

}  // namespace
}  // namespace tlsim::testing
