// The REST client against a scripted transport: retries, deadlines, the
// retry budget and key redaction, without sockets or sleeping.
#include "server/twelvelabs/client.h"

#include <gtest/gtest.h>

#include <deque>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "server/common/status_details.h"

namespace tlgw {
namespace {

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

// Runs callbacks at once, as if their delay had passed, and records the
// delays asked for.
class InstantClock : public Clock {
 public:
  absl::Time Now() override { return now; }
  void RunAfter(absl::Duration delay, absl::AnyInvocable<void(bool)> fn) override {
    delays.push_back(delay);
    now += delay;
    fn(false);
  }
  absl::Time now = absl::FromUnixSeconds(1767225600);
  std::vector<absl::Duration> delays;
};

HttpResponse Http(int status, std::string body = "{}",
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

absl::Status NotSentError() {
  absl::Status s = absl::UnavailableError("connect failed");
  s.SetPayload(kNotSentPayload, absl::Cord("1"));
  return s;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClientOptions o;
    o.base_url = "http://sim/v1.3";
    o.initial_backoff = absl::Milliseconds(100);
    secrets_.Add({"tlk_other_tenant_key", "tlk_old_rotated_key"});
    o.redactor = &secrets_;
    client_ = *TwelveLabsClient::Create(o, &transport_, &clock_, &completions_);
    opts_.api_key = "tlk_secret_key";
    opts_.deadline = clock_.Now() + absl::Seconds(30);
  }
  absl::StatusOr<gw::Task> Get() {
    absl::StatusOr<gw::Task> out = absl::InternalError("not called");
    client_->GetTask(opts_, "61e1789761c43d6d9b7362f3", [&](absl::StatusOr<gw::Task> r) { out = std::move(r); });
    return out;
  }
  ScriptedTransport transport_;
  InstantClock clock_;
  InlineExecutor completions_;
  Redactor secrets_;
  std::unique_ptr<TwelveLabsClient> client_;
  CallOptions opts_;
};

TEST_F(ClientTest, SendsKeyAndUrl) {
  transport_.script.push_back(Http(200, R"({"_id":"61e1789761c43d6d9b7362f3","status":"ready"})"));
  ASSERT_TRUE(Get().ok());
  ASSERT_EQ(transport_.sent.size(), 1u);
  EXPECT_EQ(transport_.sent[0].url, "http://sim/v1.3/tasks/61e1789761c43d6d9b7362f3");
  EXPECT_EQ(transport_.sent[0].method, "GET");
  bool has_key = false;
  for (auto& [k, v] : transport_.sent[0].headers) has_key |= (k == "x-api-key" && v == "tlk_secret_key");
  EXPECT_TRUE(has_key);
  EXPECT_LE(transport_.sent[0].timeout, absl::Seconds(30));
}

TEST_F(ClientTest, ReadRetriesOn5xxAndResetThenSucceeds) {
  transport_.script.push_back(Http(503, R"({"code":"internal_error","message":"x"})"));
  transport_.script.push_back(absl::UnavailableError("Twelve Labs API connection failed: reset"));
  transport_.script.push_back(Http(200, R"({"_id":"61e1789761c43d6d9b7362f3","status":"ready"})"));
  auto task = Get();
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(transport_.sent.size(), 3u);
  EXPECT_EQ(client_->stats().retries.load(), 2);
  ASSERT_EQ(clock_.delays.size(), 2u);
  // Exponential with jitter: the second wait's cap is twice the first's.
  EXPECT_LE(clock_.delays[0], absl::Milliseconds(100));
  EXPECT_GE(clock_.delays[0], absl::Milliseconds(50));
  EXPECT_LE(clock_.delays[1], absl::Milliseconds(200));
  EXPECT_GE(clock_.delays[1], absl::Milliseconds(100));
}

TEST_F(ClientTest, RetryAfterIsHonoured) {
  transport_.script.push_back(Http(503, "{}", {{"retry-after", "2"}}));
  transport_.script.push_back(Http(200, R"({"_id":"a"})"));
  ASSERT_TRUE(Get().ok());
  ASSERT_EQ(clock_.delays.size(), 1u);
  EXPECT_GE(clock_.delays[0], absl::Seconds(2));
}

TEST_F(ClientTest, NoRetryWhenTheWaitWouldPassTheDeadline) {
  opts_.deadline = clock_.Now() + absl::Seconds(1);
  transport_.script.push_back(Http(503, "{}", {{"retry-after", "5"}}));
  auto task = Get();
  EXPECT_EQ(task.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(transport_.sent.size(), 1u);
}

TEST_F(ClientTest, TimeoutOfTheLastOfTheCallersTimeIsDeadlineExceeded) {
  // The attempt was given all the time the call had left; curl's
  // millisecond timer fired a hair before the deadline by our clock.
  opts_.deadline = clock_.Now() + absl::Seconds(1);
  transport_.script.push_back(absl::DeadlineExceededError("did not answer within 999ms"));
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(transport_.sent.size(), 1u);
}

TEST_F(ClientTest, TimeoutOfOneCappedAttemptIsRetriedThenUnavailable) {
  // Far from the caller's deadline, an attempt timing out means the
  // upstream hangs: retried, and in the end an availability problem.
  ClientOptions o;
  o.base_url = "http://sim/v1.3";
  o.attempt_timeout = absl::Seconds(2);
  client_ = *TwelveLabsClient::Create(o, &transport_, &clock_, &completions_);
  for (int i = 0; i < 10; ++i) transport_.script.push_back(absl::DeadlineExceededError("did not answer within 2s"));
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GT(transport_.sent.size(), 1u);
  EXPECT_EQ(transport_.sent[0].timeout, absl::Seconds(2));
}

TEST_F(ClientTest, AttemptsAreBounded) {
  for (int i = 0; i < 10; ++i) transport_.script.push_back(Http(500));
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(transport_.sent.size(), 4u);
}

TEST_F(ClientTest, ClientErrorsAndRateLimitsAreNotRetried) {
  transport_.script.push_back(Http(400, R"({"code":"resource_not_exist","message":"no such task"})"));
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kNotFound);
  transport_.script.push_back(Http(429, R"({"code":"too_many_requests","message":"x"})", {{"retry-after", "1"}}));
  auto limited = Get();
  EXPECT_EQ(limited.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryDelay(limited.status()), absl::Seconds(1));
  EXPECT_EQ(transport_.sent.size(), 2u);
}

TEST_F(ClientTest, CreateWithoutRequestIdIsNeverRetriedAfterSending) {
  gw::CreateUrlTaskRequest req;
  req.set_index_id("0123456789abcdef01234567");
  req.set_video_url("https://x/a.mp4");
  transport_.script.push_back(Http(503));
  absl::StatusOr<CreatedTask> out = absl::InternalError("not called");
  client_->CreateUrlTask(opts_, req, [&](absl::StatusOr<CreatedTask> r) { out = std::move(r); });
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(transport_.sent.size(), 1u);
}

TEST_F(ClientTest, CreateIsResentWhenNothingWasSent) {
  gw::CreateUrlTaskRequest req;
  req.set_index_id("0123456789abcdef01234567");
  req.set_video_url("https://x/a.mp4");
  transport_.script.push_back(NotSentError());
  transport_.script.push_back(Http(201, R"({"_id":"t1","video_id":"t1"})"));
  absl::StatusOr<CreatedTask> out = absl::InternalError("not called");
  client_->CreateUrlTask(opts_, req, [&](absl::StatusOr<CreatedTask> r) { out = std::move(r); });
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->id, "t1");
  EXPECT_EQ(transport_.sent.size(), 2u);
}

TEST_F(ClientTest, KeyedCreateRetriesOnlyOnGatewayErrors) {
  gw::CreateUrlTaskRequest req;
  req.set_index_id("0123456789abcdef01234567");
  req.set_video_url("https://x/a.mp4");
  req.set_request_id("r1");
  transport_.script.push_back(Http(503));
  transport_.script.push_back(Http(201, R"({"_id":"t1"})"));
  absl::StatusOr<CreatedTask> out = absl::InternalError("not called");
  client_->CreateUrlTask(opts_, req, [&](absl::StatusOr<CreatedTask> r) { out = std::move(r); });
  ASSERT_TRUE(out.ok()) << out.status();
  transport_.sent.clear();
  transport_.script.push_back(Http(500));  // may have created: not retried
  client_->CreateUrlTask(opts_, req, [&](absl::StatusOr<CreatedTask> r) { out = std::move(r); });
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(transport_.sent.size(), 1u);
}

TEST_F(ClientTest, RetryBudgetStopsRetryStorms) {
  // The budget starts full (20 tokens); a dead upstream drains it, then
  // calls fail after one attempt each.
  for (int i = 0; i < 400; ++i) transport_.script.push_back(Http(503));
  for (int i = 0; i < 20; ++i) Get().IgnoreError();
  int64_t denied_before = client_->stats().retries_denied_by_budget.load();
  EXPECT_GT(denied_before, 0);
  // From now on retries are paid for by first attempts: at most 0.2 per
  // call (+1 for a leftover fraction), instead of 3 per call.
  transport_.sent.clear();
  for (int i = 0; i < 10; ++i) Get().IgnoreError();
  EXPECT_LE(transport_.sent.size(), 10u + 3u);
}

TEST_F(ClientTest, PassedDeadlineFailsWithoutSending) {
  opts_.deadline = clock_.Now() - absl::Seconds(1);
  EXPECT_EQ(Get().status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(transport_.sent.empty());
}

TEST_F(ClientTest, KeyIsRedactedFromErrors) {
  transport_.script.push_back(Http(400, R"({"code":"parameter_invalid","message":"bad key tlk_secret_key here"})"));
  auto task = Get();
  ASSERT_FALSE(task.ok());
  EXPECT_FALSE(absl::StrContains(task.status().message(), "tlk_secret_key")) << task.status();
  EXPECT_TRUE(absl::StrContains(task.status().message(), "[redacted]"));
}

// Everything a caller gets from an error: the message and every detail,
// as the gRPC layer would send them.
std::string EverythingSent(const absl::Status& s) {
  grpc::Status g = ToGrpcStatus(s);
  return absl::StrCat(g.error_message(), "|", g.error_details());
}

TEST_F(ClientTest, EveryConfiguredKeyIsRedactedFromEveryPartOfAnError) {
  // The call's key, another tenant's and a rotated-out one, echoed in the
  // code, message, docs_url and another field, and in headers.
  for (const char* key : {"tlk_secret_key", "tlk_other_tenant_key", "tlk_old_rotated_key"}) {
    transport_.script.push_back(Http(
        429,
        absl::StrCat(R"({"code":"too_many_requests_)", key, R"(","message":"key )", key,
                     R"( retry after 3","docs_url":"https://docs.example/?k=)", key,
                     R"(","extra":")", key, R"("})"),
        {{"retry-after", absl::StrCat("2 ", key)}, {"x-echo", key}}));
    auto task = Get();
    ASSERT_FALSE(task.ok());
    std::string sent = EverythingSent(task.status());
    for (const char* k : {"tlk_secret_key", "tlk_other_tenant_key", "tlk_old_rotated_key"}) {
      EXPECT_FALSE(absl::StrContains(sent, k)) << key << " leaked " << k << ": " << sent;
    }
    EXPECT_TRUE(absl::StrContains(sent, "[redacted]")) << sent;
  }
}

TEST_F(ClientTest, KeysAreRedactedFromSuccessfulBodiesBeforeTheyAreRead) {
  transport_.script.push_back(Http(200, R"({"_id":"61e1789761c43d6d9b7362f3","index_id":"0123456789abcdef01234567",
      "status":"tlk_other_tenant_key","created_at":"2024-01-01T00:00:00Z",
      "system_metadata":{"filename":"tlk_secret_key.mp4"}})"));
  auto task = Get();
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_FALSE(absl::StrContains(task->DebugString(), "tlk_")) << task->DebugString();
  EXPECT_EQ(task->status_text(), "[redacted]");
}

TEST_F(ClientTest, TransportFailuresCarryTheirKindAsErrorInfo) {
  absl::Status refused = NotSentError();
  refused.SetPayload(kUpstreamFailurePayload, absl::Cord("UPSTREAM_CONNECT_FAILED"));
  transport_.script.assign(4, refused);
  EXPECT_EQ(ErrorReason(Get().status()), "UPSTREAM_CONNECT_FAILED");
  // Untagged failures still carry a reason.
  transport_.script.assign(4, absl::UnavailableError("tlk_old_rotated_key broke"));
  auto untagged = Get();
  EXPECT_EQ(ErrorReason(untagged.status()), "UPSTREAM_CONNECTION_FAILED");
  EXPECT_FALSE(absl::StrContains(untagged.status().message(), "tlk_")) << untagged.status();
}

TEST_F(ClientTest, MalformedSuccessBodyIsInternal) {
  transport_.script.push_back(Http(200, R"({"_id": )"));
  auto task = Get();
  EXPECT_EQ(task.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(task.status().message(), "not valid JSON")) << task.status();
}

TEST(ClientCreate, RejectsUrlWithoutVersion) {
  ScriptedTransport t;
  InstantClock s;
  InlineExecutor e;
  ClientOptions o;
  o.base_url = "https://api.twelvelabs.io";
  auto c = TwelveLabsClient::Create(o, &t, &s, &e);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::StrContains(c.status().message(), "upstream_url")) << c.status();
}

// ---- Assets and indexed assets ------------------------------------------------

constexpr char kAssetJson[] =
    R"({"_id":"6900aa11bb22cc33dd44ee55","method":"url","status":"processing",)"
    R"("filename":"a.mp4","file_type":"video/mp4","created_at":"2026-07-20T10:00:00Z"})";

template <typename T>
struct Result {
  absl::StatusOr<T> value = absl::InternalError("not called");
  TwelveLabsApi::Done<T> Done() {
    return [this](absl::StatusOr<T> r) { value = std::move(r); };
  }
};

std::string Header(const HttpRequest& r, absl::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST_F(ClientTest, GetAssetSendsTheRequestAndParses) {
  transport_.script.push_back(Http(200, kAssetJson));
  Result<gw::Asset> r;
  client_->GetAsset(opts_, "6900aa11bb22cc33dd44ee55", r.Done());
  ASSERT_TRUE(r.value.ok()) << r.value.status();
  EXPECT_EQ(r.value->status(), gw::ASSET_STATUS_PROCESSING);
  ASSERT_EQ(transport_.sent.size(), 1u);
  EXPECT_EQ(transport_.sent[0].method, "GET");
  EXPECT_EQ(transport_.sent[0].url, "http://sim/v1.3/assets/6900aa11bb22cc33dd44ee55");
  EXPECT_EQ(Header(transport_.sent[0], "x-api-key"), "tlk_secret_key");
  EXPECT_LE(transport_.sent[0].timeout, absl::Seconds(30));
}

TEST_F(ClientTest, AssetAndIndexedAssetReadsRetryOn5xx) {
  transport_.script.push_back(Http(503, "{}"));
  transport_.script.push_back(Http(200, kAssetJson));
  Result<gw::Asset> asset;
  client_->GetAsset(opts_, "a1", asset.Done());
  ASSERT_TRUE(asset.value.ok()) << asset.value.status();

  transport_.script.push_back(Http(502, "{}"));
  transport_.script.push_back(Http(200, R"({"data":[],"page_info":{"page":1,"total_page":0,"total_results":0}})"));
  Result<IndexedAssetPage> list;
  gw::ListIndexedAssetsRequest req;
  req.set_index_id("idx");
  client_->ListIndexedAssets(opts_, req, 1, 10, list.Done());
  ASSERT_TRUE(list.value.ok()) << list.value.status();

  transport_.script.push_back(absl::UnavailableError("reset"));
  transport_.script.push_back(Http(200, R"({"_id":"ia1","asset_id":"a1","status":"queued"})"));
  Result<gw::IndexedAsset> ia;
  client_->GetIndexedAsset(opts_, "idx", "ia1", ia.Done());
  ASSERT_TRUE(ia.value.ok()) << ia.value.status();
  EXPECT_EQ(ia.value->index_id(), "idx");
  EXPECT_EQ(ia.value->status(), gw::INDEXED_ASSET_STATUS_QUEUED);

  transport_.script.push_back(Http(500, "{}"));
  transport_.script.push_back(Http(200, R"({"data":[)" + std::string(kAssetJson) + R"(]})"));
  Result<AssetPage> assets;
  client_->ListAssets(opts_, gw::ListAssetsRequest(), 2, 5, assets.Done());
  ASSERT_TRUE(assets.value.ok()) << assets.value.status();
  EXPECT_EQ(assets.value->assets.assets_size(), 1);
  EXPECT_EQ(transport_.sent.back().url, "http://sim/v1.3/assets?page=2&page_limit=5");
  EXPECT_EQ(client_->stats().retries.load(), 4);
  EXPECT_EQ(transport_.sent.size(), 8u);
}

TEST_F(ClientTest, AssetCreatesAreRetriedOnlyWithARequestId) {
  gw::CreateAssetRequest req;
  req.set_url("https://cdn.example.com/a.mp4");
  transport_.script.push_back(Http(503, "{}"));
  Result<gw::Asset> unkeyed;
  client_->CreateAsset(opts_, req, unkeyed.Done());
  EXPECT_EQ(unkeyed.value.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(transport_.sent.size(), 1u);
  EXPECT_EQ(transport_.sent[0].method, "POST");
  EXPECT_EQ(transport_.sent[0].url, "http://sim/v1.3/assets");
  EXPECT_FALSE(transport_.sent[0].form.empty());

  req.set_request_id("r1");
  transport_.script.push_back(Http(503, "{}"));
  transport_.script.push_back(Http(201, kAssetJson));
  Result<gw::Asset> keyed;
  client_->CreateAsset(opts_, req, keyed.Done());
  ASSERT_TRUE(keyed.value.ok()) << keyed.value.status();
  EXPECT_EQ(keyed.value->id(), "6900aa11bb22cc33dd44ee55");
  EXPECT_EQ(transport_.sent.size(), 3u);

  gw::IndexAssetRequest index;
  index.set_index_id("idx");
  index.set_asset_id("a1");
  transport_.script.push_back(Http(500, "{}"));
  Result<CreatedIndexedAsset> unkeyed_index;
  client_->CreateIndexedAsset(opts_, index, unkeyed_index.Done());
  EXPECT_EQ(unkeyed_index.value.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(transport_.sent.size(), 4u);
  EXPECT_EQ(transport_.sent.back().url, "http://sim/v1.3/indexes/idx/indexed-assets");
  EXPECT_EQ(Header(transport_.sent.back(), "content-type"), "application/json");

  index.set_request_id("r2");
  transport_.script.push_back(Http(504, "{}"));
  transport_.script.push_back(Http(202, R"({"_id":"ia1","asset_id":"a1"})"));
  Result<CreatedIndexedAsset> keyed_index;
  client_->CreateIndexedAsset(opts_, index, keyed_index.Done());
  ASSERT_TRUE(keyed_index.value.ok()) << keyed_index.value.status();
  EXPECT_EQ(keyed_index.value->id, "ia1");
  EXPECT_EQ(transport_.sent.size(), 6u);
}

TEST_F(ClientTest, DeletesAreNotRetriedAndAcceptAny2xx) {
  absl::Status status = absl::InternalError("not called");
  transport_.script.push_back(Http(204, ""));
  client_->DeleteAsset(opts_, "a1", true, [&](absl::Status s) { status = s; });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(transport_.sent.back().method, "DELETE");
  EXPECT_EQ(transport_.sent.back().url, "http://sim/v1.3/assets/a1?force=true");

  transport_.script.push_back(Http(200, ""));
  client_->DeleteIndexedAsset(opts_, "idx", "ia1", [&](absl::Status s) { status = s; });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(transport_.sent.back().url, "http://sim/v1.3/indexes/idx/indexed-assets/ia1");

  transport_.script.push_back(Http(503, "{}"));
  client_->DeleteIndexedAsset(opts_, "idx", "ia1", [&](absl::Status s) { status = s; });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(transport_.sent.size(), 3u);
}

TEST_F(ClientTest, ReferencedAssetDeleteIsFailedPreconditionWithTheUpstreamCode) {
  transport_.script.push_back(Http(
      409, R"({"code":"asset_in_use","message":"The asset is referenced by indexed assets."})"));
  absl::Status status;
  client_->DeleteAsset(opts_, "a1", false, [&](absl::Status s) { status = s; });
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_EQ(ErrorReason(status), "ASSET_IN_USE");
  EXPECT_TRUE(absl::StrContains(status.message(), "force")) << status;
  EXPECT_EQ(transport_.sent.back().url, "http://sim/v1.3/assets/a1");
}

TEST_F(ClientTest, UnknownAssetIsNotFound) {
  transport_.script.push_back(
      Http(404, R"({"code":"resource_not_exist","message":"No asset with id a1."})"));
  Result<gw::Asset> r;
  client_->GetAsset(opts_, "a1", r.Done());
  EXPECT_EQ(r.value.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(transport_.sent.size(), 1u);
}

TEST(ClientAssetsOnV12, EveryMethodIsFailedPreconditionNamingV13WithoutARequest) {
  ScriptedTransport t;
  InstantClock clock;
  InlineExecutor e;
  ClientOptions o;
  o.base_url = "http://sim/v1.2";
  auto client = *TwelveLabsClient::Create(o, &t, &clock, &e);
  CallOptions opts;
  std::vector<absl::Status> got;
  auto keep = [&](auto r) { got.push_back(r.status()); };
  client->CreateAsset(opts, gw::CreateAssetRequest(), keep);
  client->GetAsset(opts, "a", keep);
  client->ListAssets(opts, gw::ListAssetsRequest(), 1, 10, keep);
  client->DeleteAsset(opts, "a", false, [&](absl::Status s) { got.push_back(s); });
  client->CreateIndexedAsset(opts, gw::IndexAssetRequest(), keep);
  client->GetIndexedAsset(opts, "i", "a", keep);
  client->ListIndexedAssets(opts, gw::ListIndexedAssetsRequest(), 1, 10, keep);
  client->DeleteIndexedAsset(opts, "i", "a", [&](absl::Status s) { got.push_back(s); });
  ASSERT_EQ(got.size(), 8u);
  for (const auto& s : got) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "v1.3")) << s;
    EXPECT_EQ(ErrorReason(s), "METHOD_NOT_IN_API_VERSION");
  }
  EXPECT_TRUE(t.sent.empty());
}

}  // namespace
}  // namespace tlgw
