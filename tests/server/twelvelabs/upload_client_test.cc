// The REST client's upload calls (docs/upstream-api.md §9.1 direct, §9.4
// multipart) against a scripted transport: what each sends, how answers
// are read, and the presigned PUT that must carry nothing of ours.
#include <gtest/gtest.h>

#include <deque>
#include <iterator>
#include <vector>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"
#include "server/common/status_details.h"
#include "server/twelvelabs/client.h"

namespace tlgw {
namespace {

using nlohmann::json;

class ScriptedTransport : public HttpTransport {
 public:
  void Send(HttpRequest request, Callback done) override {
    sent.push_back(request);
    absl::StatusOr<HttpResponse> r = absl::UnavailableError("script ran out");
    if (!script.empty()) {
      r = script.front();
      script.pop_front();
    }
    done(std::move(r));
  }
  std::deque<absl::StatusOr<HttpResponse>> script;
  std::vector<HttpRequest> sent;
};

class InstantClock : public Clock {
 public:
  absl::Time Now() override { return now; }
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void(bool)> fn) override {
    now += delay;
    fn(false);
  }
  absl::Time now = absl::FromUnixSeconds(1767225600);
};

HttpResponse Http(int status, std::string body = "{}",
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

bool HasHeader(const HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return true;
  }
  return false;
}

constexpr char kUpload[] = "6a0000000000000000000001";

class UploadClientTest : public ::testing::Test {
 protected:
  void SetUp() override { MakeClient("http://sim/v1.3"); }
  void MakeClient(const std::string& base) {
    ClientOptions o;
    o.base_url = base;
    client_ = *TwelveLabsClient::Create(o, &transport_, &clock_, &completions_);
    opts_.api_key = "tlk_secret_key";
    opts_.deadline = clock_.Now() + absl::Seconds(30);
  }
  gw::UploadAssetHeader Header() {
    gw::UploadAssetHeader h;
    h.set_filename("big.mp4");
    h.set_type(gw::ASSET_TYPE_VIDEO);
    h.set_size_bytes(12345);
    h.set_enable_hls(true);
    (*h.mutable_user_metadata()->mutable_fields())["team"].set_string_value("news");
    return h;
  }
  ScriptedTransport transport_;
  InstantClock clock_;
  InlineExecutor completions_;
  std::unique_ptr<TwelveLabsClient> client_;
  CallOptions opts_;
};

TEST_F(UploadClientTest, CreateMultipartUploadSendsJsonAndReadsTheSession) {
  transport_.script.push_back(Http(201, R"({"upload_id":"6a0000000000000000000001","asset_id":"6b0000000000000000000002",
    "upload_urls":[{"chunk_index":1,"url":"https://s3.example/u/1?X-Amz-Signature=a","expires_at":"2026-01-01T01:00:00Z"}],
    "upload_headers":{},"chunk_size":5242880,"total_chunks":3,"expires_at":"2026-01-02T00:00:00Z"})"));
  absl::StatusOr<MultipartSession> out = absl::InternalError("not called");
  client_->CreateMultipartUpload(opts_, Header(), [&](absl::StatusOr<MultipartSession> r) { out = std::move(r); });
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->upload_id, kUpload);
  EXPECT_EQ(out->asset_id, "6b0000000000000000000002");
  EXPECT_EQ(out->chunk_size, 5242880);
  EXPECT_EQ(out->total_chunks, 3);
  ASSERT_EQ(out->urls.size(), 1u);
  EXPECT_EQ(out->urls[0].chunk_index, 1);
  EXPECT_EQ(out->urls[0].expires_at, absl::FromUnixSeconds(1767229200));
  ASSERT_EQ(transport_.sent.size(), 1u);
  const HttpRequest& r = transport_.sent[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "http://sim/v1.3/assets/multipart-uploads");
  json body = json::parse(r.body);
  EXPECT_EQ(body["filename"], "big.mp4");
  EXPECT_EQ(body["type"], "video");
  EXPECT_EQ(body["total_size"], 12345);
  EXPECT_EQ(body["enable_hls"], true);
  EXPECT_FALSE(body.contains("enable_thumbnail"));
  EXPECT_EQ(body["user_metadata"], json({{"team", "news"}})) << "an object here, not a string";
}

TEST_F(UploadClientTest, CreateMultipartUploadIsNotRetried) {
  transport_.script.push_back(Http(503));
  absl::StatusOr<MultipartSession> out = absl::InternalError("not called");
  client_->CreateMultipartUpload(opts_, Header(), [&](absl::StatusOr<MultipartSession> r) { out = std::move(r); });
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(transport_.sent.size(), 1u);
}

TEST_F(UploadClientTest, SessionWithoutChunkSizeOrWithAForeignUrlIsMalformed) {
  transport_.script.push_back(Http(201, R"({"upload_id":"u","asset_id":"a","total_chunks":3})"));
  transport_.script.push_back(Http(201, R"({"upload_id":"u","asset_id":"a","chunk_size":10,"total_chunks":3,
    "upload_urls":[{"chunk_index":1,"url":"file:///etc/passwd"}]})"));
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<MultipartSession> out = absl::InternalError("not called");
    client_->CreateMultipartUpload(opts_, Header(), [&](absl::StatusOr<MultipartSession> r) { out = std::move(r); });
    EXPECT_FALSE(out.ok());
    EXPECT_NE(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
  }
}

TEST_F(UploadClientTest, PutChunkSendsOnlyTheBytesToTheAbsoluteUrlAndStripsTheEtag) {
  transport_.script.push_back(Http(200, "", {{"etag", "\"9b2cf535f27731c974343645a3985328\""}}));
  // Two pieces, as two client messages: large enough that the Cord keeps
  // them apart rather than copying them into one flat piece.
  absl::Cord body;
  body.Append(std::string(1000, 'a'));
  body.Append(std::string(1000, 'b'));
  absl::StatusOr<std::string> etag = absl::InternalError("not called");
  client_->PutChunk(opts_, "https://s3.example/u/1?X-Amz-Signature=abc", body,
                    [&](absl::StatusOr<std::string> r) { etag = std::move(r); });
  ASSERT_TRUE(etag.ok()) << etag.status();
  EXPECT_EQ(*etag, "9b2cf535f27731c974343645a3985328");
  ASSERT_EQ(transport_.sent.size(), 1u);
  const HttpRequest& r = transport_.sent[0];
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.url, "https://s3.example/u/1?X-Amz-Signature=abc") << "as upstream gave it, not under the base URL";
  EXPECT_EQ(r.cord_body, body);
  EXPECT_EQ(std::distance(r.cord_body.Chunks().begin(), r.cord_body.Chunks().end()), 2) << "not joined";
  EXPECT_EQ(r.cord_body.Chunks().begin()->data(), body.Chunks().begin()->data()) << "the kept chunk, not a copy";
  EXPECT_TRUE(r.body.empty());
  ASSERT_EQ(r.headers.size(), 1u) << "the key, accept and user-agent are the API's, not the bucket's";
  EXPECT_EQ(r.headers[0].first, "content-type");
  EXPECT_EQ(r.headers[0].second, "application/octet-stream");
  EXPECT_FALSE(HasHeader(r, "x-api-key"));
}

TEST_F(UploadClientTest, PutChunkFailures) {
  struct Case {
    HttpResponse response;
    absl::StatusCode code;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {Http(200, ""), absl::StatusCode::kUnavailable, "PRESIGNED_PUT_NO_ETAG"},
      {Http(200, "", {{"etag", "\"\""}}), absl::StatusCode::kUnavailable, "PRESIGNED_PUT_NO_ETAG"},
      {Http(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"),
       absl::StatusCode::kPermissionDenied, "PRESIGNED_URL_REJECTED"},
      {Http(404, "<Error><Code>NoSuchUpload</Code></Error>"), absl::StatusCode::kNotFound, "UPLOAD_SESSION_CLOSED"},
      {Http(503, "<Error><Code>SlowDown</Code></Error>"), absl::StatusCode::kResourceExhausted,
       "PRESIGNED_PUT_THROTTLED"},
      {Http(500, "<Error><Code>InternalError</Code></Error>"), absl::StatusCode::kUnavailable,
       "PRESIGNED_PUT_FAILED"},
  };
  for (const Case& c : cases) {
    transport_.sent.clear();
    transport_.script.push_back(c.response);
    absl::StatusOr<std::string> etag = absl::InternalError("not called");
    client_->PutChunk(opts_, "https://s3.example/u/1?X-Amz-Signature=secretsig",
                      absl::Cord("x"), [&](absl::StatusOr<std::string> r) { etag = std::move(r); });
    EXPECT_EQ(etag.status().code(), c.code) << c.reason << ": " << etag.status();
    EXPECT_EQ(ErrorReason(etag.status()).value_or(""), c.reason);
    EXPECT_FALSE(absl::StrContains(etag.status().message(), "secretsig")) << "the URL is a credential";
    EXPECT_EQ(transport_.sent.size(), 1u) << "the caller retries, with a fresh URL";
  }
}

TEST_F(UploadClientTest, PresignedUrlsAndReports) {
  transport_.script.push_back(Http(503));
  transport_.script.push_back(Http(200, R"({"upload_id":"u","start_index":3,"count":2,"upload_urls":[
    {"chunk_index":3,"url":"https://s3.example/u/3?s=1","expires_at":"2026-01-01T01:00:00Z"},
    {"chunk_index":4,"url":"https://s3.example/u/4?s=2","expires_at":"2026-01-01T01:00:00Z"}]})"));
  absl::StatusOr<std::vector<PresignedUrl>> urls = absl::InternalError("not called");
  client_->GetPresignedUrls(opts_, kUpload, 3, 200, [&](auto r) { urls = std::move(r); });
  ASSERT_TRUE(urls.ok()) << urls.status();
  ASSERT_EQ(urls->size(), 2u);
  EXPECT_EQ((*urls)[1].chunk_index, 4);
  ASSERT_EQ(transport_.sent.size(), 2u) << "retried: more URLs are harmless";
  EXPECT_EQ(transport_.sent[1].url, "http://sim/v1.3/assets/multipart-uploads/6a0000000000000000000001/presigned-urls");
  EXPECT_EQ(json::parse(transport_.sent[1].body), json({{"start", 3}, {"count", 50}})) << "count clipped to 50";

  transport_.sent.clear();
  transport_.script.push_back(Http(502));
  transport_.script.push_back(Http(200, R"({"asset_id":"a","processed_chunks":2,"duplicate_chunks":0,"total_completed":4,
    "url":"https://x/assembled"})"));
  absl::StatusOr<ChunkReport> report = absl::InternalError("not called");
  client_->ReportChunks(opts_, kUpload, {{1, "e1", 10}, {2, "e2", 5}}, [&](auto r) { report = std::move(r); });
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->processed, 2);
  EXPECT_EQ(report->total_completed, 4);
  EXPECT_TRUE(report->all_reported);
  ASSERT_EQ(transport_.sent.size(), 2u) << "retried: upstream counts a repeat as a duplicate";
  EXPECT_EQ(transport_.sent[1].url, "http://sim/v1.3/assets/multipart-uploads/6a0000000000000000000001");
  EXPECT_EQ(json::parse(transport_.sent[1].body),
            json::parse(R"({"completed_chunks":[{"chunk_index":1,"proof":"e1","proof_type":"etag","chunk_size":10},
                                                 {"chunk_index":2,"proof":"e2","proof_type":"etag","chunk_size":5}]})"));
}

TEST_F(UploadClientTest, GetUploadReadsEveryPageIntoRunsAndAResumeOffset) {
  // 60 chunks of 100 bytes: page 1 lists 1-50, page 2 51-60. Completed:
  // 1-40, 42, 55-56.
  auto page = [](int number) {
    json chunks = json::array();
    for (int i = (number - 1) * 50 + 1; i <= std::min(60, number * 50); ++i) {
      bool done = i <= 40 || i == 42 || i == 55 || i == 56;
      chunks.push_back({{"index", i}, {"status", done ? "completed" : "pending"}, {"size", 100}});
    }
    return json{{"upload_id", kUpload}, {"asset_id", "a"}, {"filename", "big.mp4"}, {"status", "active"},
                {"total_size", 5950}, {"uploaded_size", 4300}, {"chunk_size", 100}, {"total_chunks", 60},
                {"chunks_completed", 43}, {"chunks_failed", 0}, {"chunks_pending", 17},
                {"created_at", "2026-01-01T00:00:00Z"}, {"expires_at", "2026-01-02T00:00:00Z"},
                {"uploaded_chunks", chunks},
                {"page_info", {{"page", number}, {"limit_per_page", 50}, {"total_page", 2}, {"total_results", 60}}}}
        .dump();
  };
  transport_.script.push_back(Http(200, page(1)));
  transport_.script.push_back(Http(200, page(2)));
  absl::StatusOr<gw::Upload> up = absl::InternalError("not called");
  client_->GetUpload(opts_, kUpload, [&](auto r) { up = std::move(r); });
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_EQ(transport_.sent.size(), 2u);
  EXPECT_TRUE(absl::EndsWith(transport_.sent[0].url, "?page=1&page_limit=50"));
  EXPECT_TRUE(absl::EndsWith(transport_.sent[1].url, "?page=2&page_limit=50"));
  EXPECT_EQ(up->status(), gw::UPLOAD_STATUS_ACTIVE);
  EXPECT_EQ(up->status_text(), "active");
  EXPECT_EQ(up->chunks_completed(), 43);
  ASSERT_EQ(up->completed_chunks_size(), 3);
  EXPECT_EQ(up->completed_chunks(0).first(), 1);
  EXPECT_EQ(up->completed_chunks(0).last(), 40);
  EXPECT_EQ(up->completed_chunks(1).first(), 42);
  EXPECT_EQ(up->completed_chunks(2).first(), 55);
  EXPECT_EQ(up->completed_chunks(2).last(), 56);
  EXPECT_EQ(up->resume_offset(), 4000) << "chunk 41 is the first missing";
  EXPECT_EQ(up->expire_time().seconds(), 1767312000);
}

TEST_F(UploadClientTest, UnknownSessionStatusIsKeptAsText) {
  transport_.script.push_back(Http(200, R"({"upload_id":"u","status":"archived","total_size":10,"chunk_size":10,
    "total_chunks":1,"uploaded_chunks":[{"index":1,"status":"completed"}],"page_info":{"page":1,"total_page":1}})"));
  absl::StatusOr<gw::Upload> up = absl::InternalError("not called");
  client_->GetUpload(opts_, kUpload, [&](auto r) { up = std::move(r); });
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->status(), gw::UPLOAD_STATUS_OTHER);
  EXPECT_EQ(up->status_text(), "archived");
  EXPECT_EQ(up->resume_offset(), 10) << "all there: the whole size";
}

class EmptySource : public BodySource {
 public:
  void Attach(std::function<void()>) override {}
  int64_t Read(char*, size_t) override { return 0; }
};

TEST_F(UploadClientTest, DirectUploadStreamsTheFilePart) {
  transport_.script.push_back(Http(201, R"({"_id":"6b0000000000000000000002","method":"direct","status":"processing"})"));
  auto source = std::make_shared<EmptySource>();
  absl::StatusOr<gw::Asset> asset = absl::InternalError("not called");
  client_->UploadAssetDirect(opts_, Header(), source, [&](auto r) { asset = std::move(r); });
  ASSERT_TRUE(asset.ok()) << asset.status();
  EXPECT_EQ(asset->method(), gw::ASSET_METHOD_DIRECT);
  ASSERT_EQ(transport_.sent.size(), 1u);
  const HttpRequest& r = transport_.sent[0];
  EXPECT_EQ(r.url, "http://sim/v1.3/assets");
  std::map<std::string, const FormPart*> parts;
  for (const FormPart& p : r.form) parts[p.name] = &p;
  ASSERT_TRUE(parts.count("method") && parts.count("file") && parts.count("user_metadata"));
  EXPECT_EQ(parts["method"]->value, "direct");
  EXPECT_EQ(parts["file"]->source, source);
  EXPECT_EQ(parts["file"]->size, 12345);
  EXPECT_EQ(parts["file"]->filename.value_or(""), "big.mp4");
  EXPECT_EQ(parts["user_metadata"]->value, R"({"team":"news"})") << "a string on this endpoint";
  EXPECT_EQ(parts["enable_hls"]->value, "true");
}

TEST_F(UploadClientTest, OnV12NothingIsSent) {
  MakeClient("http://sim/v1.2");
  absl::StatusOr<gw::Upload> up = absl::InternalError("not called");
  client_->GetUpload(opts_, kUpload, [&](auto r) { up = std::move(r); });
  EXPECT_EQ(up.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(up.status().message(), "v1.3")) << up.status();
  absl::StatusOr<MultipartSession> s = absl::InternalError("not called");
  client_->CreateMultipartUpload(opts_, Header(), [&](auto r) { s = std::move(r); });
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(transport_.sent.empty());
}

}  // namespace
}  // namespace tlgw
