// Multipart upload sessions (docs/upstream-api.md §9.4) against the
// simulator: presigned PUTs it serves itself (single use, expiring on its
// clock, an ETag each), more URLs, reports with duplicates, session status
// and expiry, the assembled digest, and faults on the PUTs.
#include <openssl/evp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "sim/simulator.h"
#include "tests/sim/sim_test_util.h"

namespace tlsim::testing {
namespace {

using nlohmann::json;

constexpr int kChunk = 1000;

std::string Sha256Raw(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string Sha256Hex(const std::string& data) { return absl::BytesToHexString(Sha256Raw(data)); }

class MultipartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SimulatorOptions o = TestOptions();
    o.multipart_chunk_bytes = kChunk;
    o.multipart_initial_urls = 2;
    sim_ = StartOrDie(o);
    ASSERT_NE(sim_, nullptr);
    client_ = std::make_unique<SimClient>(sim_->port());
    file_.resize(4500);
    for (size_t i = 0; i < file_.size(); ++i) file_[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  }

  std::string ChunkOf(int index) const {
    return file_.substr(static_cast<size_t>(index - 1) * kChunk, kChunk);
  }

  json CreateSession(json body = {{"filename", "big.mp4"}, {"type", "video"}, {"total_size", 4500}}) {
    HttpResult r = client_->PostJson("/v1.3/assets/multipart-uploads", body);
    EXPECT_TRUE(IsJsonStatus(r, 201));
    return r.json;
  }

  json MoreUrls(const std::string& upload_id, int start, int count) {
    HttpResult r = client_->PostJson(
        absl::StrCat("/v1.3/assets/multipart-uploads/", upload_id, "/presigned-urls"),
        {{"start", start}, {"count", count}});
    EXPECT_TRUE(IsJsonStatus(r, 200));
    return r.json;
  }

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

  HttpResult Report(const std::string& upload_id, const std::vector<json>& chunks) {
    return client_->PostJson(absl::StrCat("/v1.3/assets/multipart-uploads/", upload_id),
                             {{"completed_chunks", chunks}});
  }

  static json Entry(int index, const std::string& etag, int size = kChunk) {
    return {{"chunk_index", index}, {"proof", etag}, {"proof_type", "etag"}, {"chunk_size", size}};
  }

  std::unique_ptr<Simulator> sim_;
  std::unique_ptr<SimClient> client_;
  std::string file_;
};

TEST_F(MultipartTest, OutOfOrderChunksDuplicateReportExpiredUrlAndIntegrity) {
  const json session = CreateSession();
  EXPECT_EQ(session["chunk_size"], kChunk);
  EXPECT_EQ(session["total_chunks"], 5);
  EXPECT_EQ(session["upload_headers"], json::object());
  ASSERT_EQ(session["upload_urls"].size(), 2u) << "only the first chunks";
  EXPECT_EQ(session["upload_urls"][0]["chunk_index"], 1);
  const std::string upload_id = session["upload_id"];
  const std::string asset_id = session["asset_id"];
  // The asset id is reserved at once and shows processing.
  HttpResult asset = client_->Get("/v1.3/assets/" + asset_id);
  ASSERT_TRUE(IsJsonStatus(asset, 200));
  EXPECT_EQ(asset.json["status"], "processing");
  EXPECT_EQ(asset.json["method"], "multipart");

  std::map<int, std::string> url;
  for (const json& u : session["upload_urls"]) url[u["chunk_index"]] = u["url"];
  const json more = MoreUrls(upload_id, 3, 50);
  EXPECT_EQ(more["start_index"], 3);
  EXPECT_EQ(more["count"], 3) << "clipped to the last chunk";
  for (const json& u : more["upload_urls"]) url[u["chunk_index"]] = u["url"];
  ASSERT_EQ(url.size(), 5u);

  // Out of order; the last chunk is the short one.
  std::map<int, std::string> etag;
  for (int i : {5, 3, 1, 2}) {
    const std::string body = ChunkOf(i);
    HttpResult r = Put(url[i], body);
    ASSERT_EQ(r.status, 200) << r.Describe();
    etag[i] = r.Header("ETag");
    EXPECT_EQ(etag[i], absl::StrCat("\"", Sha256Hex(body).substr(0, 32), "\"")) << i;
  }
  EXPECT_EQ(ChunkOf(5).size(), 500u);
  EXPECT_NE(etag[1], etag[2]);
  // Single use.
  HttpResult reused = Put(url[1], ChunkOf(1));
  EXPECT_EQ(reused.status, 403);
  EXPECT_TRUE(absl::StrContains(reused.body, "AccessDenied")) << reused.body;

  // Chunk 4's URL expires after an hour on the simulator's clock; a fresh
  // one works.
  client_->Advance(3600);
  HttpResult expired = Put(url[4], ChunkOf(4));
  EXPECT_EQ(expired.status, 403);
  EXPECT_TRUE(absl::StrContains(expired.body, "expired")) << expired.body;
  const json fresh = MoreUrls(upload_id, 4, 1);
  ASSERT_EQ(fresh["upload_urls"].size(), 1u);
  HttpResult put4 = Put(fresh["upload_urls"][0]["url"], ChunkOf(4));
  ASSERT_EQ(put4.status, 200) << put4.Describe();
  etag[4] = put4.Header("ETag");

  // Reports in two batches, one chunk reported twice.
  HttpResult first = Report(upload_id, {Entry(5, etag[5], 500), Entry(3, etag[3]), Entry(1, etag[1])});
  ASSERT_TRUE(IsJsonStatus(first, 200));
  EXPECT_EQ(first.json["processed_chunks"], 3);
  EXPECT_EQ(first.json["duplicate_chunks"], 0);
  EXPECT_EQ(first.json["total_completed"], 3);
  EXPECT_FALSE(first.json.contains("url"));
  HttpResult status = client_->Get("/v1.3/assets/multipart-uploads/" + upload_id + "?page_limit=50");
  ASSERT_TRUE(IsJsonStatus(status, 200));
  EXPECT_EQ(status.json["status"], "active");
  EXPECT_EQ(status.json["chunks_completed"], 3);
  EXPECT_EQ(status.json["chunks_pending"], 2);
  EXPECT_EQ(status.json["uploaded_size"], 2500);
  EXPECT_EQ(status.json["uploaded_chunks"][1]["status"], "pending");
  EXPECT_EQ(status.json["uploaded_chunks"][2]["status"], "completed");

  // Proofs without quotes are accepted, as the official uploaders strip them.
  const std::string bare4 = etag[4].substr(1, etag[4].size() - 2);
  HttpResult second = Report(upload_id, {Entry(1, etag[1]), Entry(2, etag[2]), Entry(4, bare4)});
  ASSERT_TRUE(IsJsonStatus(second, 200));
  EXPECT_EQ(second.json["processed_chunks"], 2);
  EXPECT_EQ(second.json["duplicate_chunks"], 1);
  EXPECT_EQ(second.json["total_completed"], 5);
  EXPECT_EQ(second.json["asset_id"], asset_id);
  EXPECT_TRUE(second.json.contains("url"));
  status = client_->Get("/v1.3/assets/multipart-uploads/" + upload_id);
  EXPECT_EQ(status.json["status"], "completed");
  EXPECT_EQ(status.json["uploaded_size"], 4500);

  // Integrity: each chunk's size and SHA-256, and the assembled digest.
  HttpResult debug = client_->Control("GET", "/_sim/uploads/" + upload_id);
  ASSERT_TRUE(IsJsonStatus(debug, 200));
  std::string composite;
  for (int i = 1; i <= 5; ++i) {
    const json& c = debug.json["chunks"][i - 1];
    EXPECT_EQ(c["size"], ChunkOf(i).size());
    EXPECT_EQ(c["sha256"], Sha256Hex(ChunkOf(i)));
    EXPECT_EQ(c["etag"], etag[i]);
    composite += Sha256Raw(ChunkOf(i));
  }
  EXPECT_EQ(debug.json["assembled"]["size"], 4500);
  EXPECT_EQ(debug.json["assembled"]["sha256_of_chunk_sha256s"], Sha256Hex(composite));
  // The request log has each PUT's chunk digest too.
  HttpResult log = client_->Control("GET", "/_sim/requests?path_contains=/uploads/");
  int logged = 0;
  for (const json& e : log.json["requests"]) {
    if (e.contains("chunk")) {
      ++logged;
      EXPECT_EQ(e["chunk"]["sha256"], Sha256Hex(ChunkOf(e["chunk"]["index"])));
    }
  }
  EXPECT_EQ(logged, 5);

  // The asset is processed after completion.
  EXPECT_EQ(client_->Get("/v1.3/assets/" + asset_id).json["status"], "processing");
  client_->Advance(2);
  asset = client_->Get("/v1.3/assets/" + asset_id);
  EXPECT_EQ(asset.json["status"], "ready");
  EXPECT_EQ(asset.json["size"], 4500);
  // Reporting again after completion: all duplicates.
  HttpResult again = Report(upload_id, {Entry(2, etag[2])});
  EXPECT_EQ(again.json["duplicate_chunks"], 1) << again.Describe();
}

TEST_F(MultipartTest, FaultedPutsAreRetried) {
  const json session = CreateSession({{"filename", "f.mp4"}, {"type", "video"}, {"total_size", 1500}});
  const std::string u1 = session["upload_urls"][0]["url"];
  const std::string u2 = session["upload_urls"][1]["url"];
  client_->AddFault(
      {{"method", "PUT"}, {"path_regex", "^/uploads/"}, {"kind", "status"}, {"status", 500}});
  HttpResult failed = Put(u1, ChunkOf(1));
  EXPECT_EQ(failed.status, 500);
  EXPECT_FALSE(failed.HasHeader("ETag"));
  // The URL was not spent by the failed PUT.
  HttpResult retried = Put(u1, ChunkOf(1));
  ASSERT_EQ(retried.status, 200) << retried.Describe();
  client_->AddFault({{"method", "PUT"}, {"path_regex", "^/uploads/"}, {"kind", "reset"}});
  HttpResult reset = Put(u2, file_.substr(kChunk, 500));
  EXPECT_FALSE(reset.transport_ok);
  HttpResult ok = Put(u2, file_.substr(kChunk, 500));
  ASSERT_EQ(ok.status, 200) << ok.Describe();
  // Faults also reach the JSON endpoints of the session.
  client_->AddFault({{"method", "POST"},
                     {"path_regex", "/multipart-uploads/[0-9a-f]+$"},
                     {"kind", "status"},
                     {"status", 503}});
  const std::string id = session["upload_id"];
  EXPECT_TRUE(IsApiError(Report(id, {Entry(1, retried.Header("ETag"))}), 503, "internal_error"));
  HttpResult done = Report(id, {Entry(1, retried.Header("ETag")), Entry(2, ok.Header("ETag"), 500)});
  EXPECT_EQ(done.json["total_completed"], 2);
}

TEST_F(MultipartTest, BadPutsAndBadReports) {
  const json session = CreateSession();
  const std::string id = session["upload_id"];
  const std::string u1 = session["upload_urls"][0]["url"];
  // Wrong size: refused, URL still usable.
  HttpResult small = Put(u1, "abc");
  EXPECT_EQ(small.status, 400);
  EXPECT_TRUE(absl::StrContains(small.body, "EntityTooSmall")) << small.body;
  EXPECT_EQ(Put(u1, ChunkOf(1) + "x").status, 400);
  // A URL of another chunk, a made-up signature, an unknown upload.
  const std::string u2 = session["upload_urls"][1]["url"];
  const std::string swapped = absl::StrReplaceAll(u2, {{"/2?", "/1?"}});
  EXPECT_EQ(Put(swapped, ChunkOf(1)).status, 403);
  EXPECT_EQ(Put(u1.substr(0, u1.size() - 4) + "0000", ChunkOf(1)).status, 403);
  EXPECT_EQ(Put(absl::StrReplaceAll(u1, {{id, "0123456789abcdef0123abcd"}}), ChunkOf(1)).status, 404);
  HttpResult put1 = Put(u1, ChunkOf(1));
  ASSERT_EQ(put1.status, 200);

  // A proof for a chunk that never arrived marks it failed.
  HttpResult bad = Report(id, {Entry(1, put1.Header("ETag")), Entry(2, "\"deadbeef\"")});
  EXPECT_TRUE(IsApiError(bad, 400, "parameter_invalid"));
  HttpResult status = client_->Get("/v1.3/assets/multipart-uploads/" + id);
  EXPECT_EQ(status.json["chunks_failed"], 1);
  EXPECT_EQ(status.json["chunks_completed"], 0) << "a refused batch applies nothing";
  EXPECT_EQ(status.json["uploaded_chunks"][1]["status"], "failed");
  // Re-uploading it clears the failure.
  HttpResult put2 = Put(u2, ChunkOf(2));
  ASSERT_EQ(put2.status, 200);
  EXPECT_EQ(client_->Get("/v1.3/assets/multipart-uploads/" + id).json["chunks_failed"], 0);

  EXPECT_TRUE(IsApiError(Report(id, {Entry(6, "x")}), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(Report(id, {Entry(1, put1.Header("ETag"), 999)}), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(Report(id, {{{"chunk_index", 1}}}), 400, "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(Report(id, {{{"chunk_index", 1}, {"proof", "x"}, {"part", 1}}}), 400,
                         "parameter_unknown"));
  EXPECT_TRUE(IsApiError(Report(id, {}), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(Report("0123456789abcdef0123abcd", {Entry(1, "x")}), 404,
                         "resource_not_exist"));
  EXPECT_TRUE(IsApiError(client_->Get("/v1.3/assets/multipart-uploads/0123456789abcdef0123abcd"),
                         404, "resource_not_exist"));
  EXPECT_TRUE(IsApiError(
      client_->PostJson("/v1.3/assets/multipart-uploads/0123456789abcdef0123abcd/presigned-urls",
                        {{"start", 1}, {"count", 1}}),
      404, "resource_not_exist"));
  const std::string more = "/v1.3/assets/multipart-uploads/" + id + "/presigned-urls";
  EXPECT_TRUE(IsApiError(client_->PostJson(more, {{"start", 0}, {"count", 1}}), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostJson(more, {{"start", 6}, {"count", 1}}), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostJson(more, {{"start", 1}, {"count", 51}}), 400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostJson(more, {{"start", 1}}), 400, "parameter_not_provided"));
}

TEST_F(MultipartTest, CreateSessionErrors) {
  const std::string path = "/v1.3/assets/multipart-uploads";
  EXPECT_TRUE(IsApiError(client_->PostJson(path, {{"type", "video"}, {"total_size", 10}}), 400,
                         "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(client_->PostJson(path, {{"filename", "a.mp4"}, {"total_size", 10}}), 400,
                         "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(client_->PostJson(path, {{"filename", "a.mp4"}, {"type", "video"}}), 400,
                         "parameter_not_provided"));
  EXPECT_TRUE(IsApiError(
      client_->PostJson(path, {{"filename", "a.mp4"}, {"type", "doc"}, {"total_size", 10}}), 400,
      "parameter_invalid"));
  EXPECT_TRUE(IsApiError(
      client_->PostJson(path, {{"filename", "a.mp4"}, {"type", "video"}, {"total_size", 0}}), 400,
      "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostJson(path, {{"filename", "a.mp4"},
                                                  {"type", "video"},
                                                  {"total_size", (uint64_t{10} << 30) + 1}}),
                         400, "parameter_invalid"))
      << "over 10 GB";
  EXPECT_TRUE(IsApiError(client_->PostJson(path, {{"filename", "a.jpg"},
                                                  {"type", "image"},
                                                  {"total_size", (33 << 20)}}),
                         400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->PostJson(path, {{"filename", "a.mp4"},
                                                  {"type", "video"},
                                                  {"total_size", 10},
                                                  {"chunk_size", 5}}),
                         400, "parameter_unknown"));
  EXPECT_TRUE(IsApiError(client_->PostJson(path, {{"filename", "a.mp4"},
                                                  {"type", "video"},
                                                  {"total_size", 10},
                                                  {"user_metadata", "{}"}}),
                         400, "parameter_invalid"))
      << "an object here, not a string";
  EXPECT_TRUE(IsApiError(client_->PostJson("/v1.2/assets/multipart-uploads",
                                           {{"filename", "a.mp4"}, {"type", "video"}, {"total_size", 10}}),
                         404, "resource_not_exist"));
}

TEST_F(MultipartTest, SessionExpiresAfter24HoursAndTheAssetFails) {
  const json session = CreateSession();
  const std::string id = session["upload_id"];
  HttpResult listed = client_->Get("/v1.3/assets/multipart-uploads");
  ASSERT_TRUE(IsJsonStatus(listed, 200));
  ASSERT_EQ(listed.json["data"].size(), 1u);
  EXPECT_EQ(listed.json["data"][0]["upload_id"], id);
  client_->Advance(24 * 3600 - 1);
  EXPECT_EQ(client_->Get("/v1.3/assets/multipart-uploads/" + id).json["status"], "active");
  const json fresh = MoreUrls(id, 1, 1);
  client_->Advance(1);
  EXPECT_EQ(client_->Get("/v1.3/assets/multipart-uploads/" + id).json["status"], "expired");
  EXPECT_EQ(Put(fresh["upload_urls"][0]["url"], ChunkOf(1)).status, 404);
  EXPECT_TRUE(IsApiError(client_->PostJson("/v1.3/assets/multipart-uploads/" + id + "/presigned-urls",
                                           {{"start", 1}, {"count", 1}}),
                         400, "parameter_invalid"));
  EXPECT_TRUE(IsApiError(Report(id, {Entry(1, "x")}), 400, "parameter_invalid"));
  EXPECT_TRUE(client_->Get("/v1.3/assets/multipart-uploads").json["data"].empty())
      << "only incomplete, resumable sessions are listed";
  HttpResult asset = client_->Get("/v1.3/assets/" + session["asset_id"].get<std::string>());
  EXPECT_EQ(asset.json["status"], "failed");
  EXPECT_TRUE(asset.json.contains("error"));
}

TEST_F(MultipartTest, SessionChunksArePagedAndChunkSizeIsConfigurable) {
  ASSERT_TRUE(IsJsonStatus(client_->Control("POST", "/_sim/assets/config",
                                            {{"multipart_chunk_bytes", 100}, {"initial_urls", 50}}),
                           200));
  const json session = CreateSession({{"filename", "a.mp3"}, {"type", "audio"}, {"total_size", 2345}});
  EXPECT_EQ(session["chunk_size"], 100);
  EXPECT_EQ(session["total_chunks"], 24);
  EXPECT_EQ(session["upload_urls"].size(), 24u);
  const std::string id = session["upload_id"];
  HttpResult page = client_->Get("/v1.3/assets/multipart-uploads/" + id + "?page=3&page_limit=10");
  ASSERT_TRUE(IsJsonStatus(page, 200));
  EXPECT_EQ(page.json["page_info"],
            json({{"limit_per_page", 10}, {"page", 3}, {"total_page", 3}, {"total_results", 24}}));
  ASSERT_EQ(page.json["uploaded_chunks"].size(), 4u);
  EXPECT_EQ(page.json["uploaded_chunks"][3]["index"], 24);
  EXPECT_EQ(page.json["uploaded_chunks"][3]["size"], 45);
  EXPECT_TRUE(IsApiError(client_->Control("POST", "/_sim/assets/config", {{"chunk", 1}}), 400,
                         "parameter_invalid"));
  EXPECT_TRUE(IsApiError(client_->Control("POST", "/_sim/assets/config",
                                          {{"empty_success_status", 201}}),
                         400, "parameter_invalid"));
}

}  // namespace
}  // namespace tlsim::testing
