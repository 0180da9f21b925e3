// UploadService in process: the real gRPC server and stub, the fake upstream
// and a fake clock (service_harness.h).
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/common/status_details.h"
#include "server/services/create_flow.h"
#include "server/services/upload_reactor.h"
#include "tests/server/services/service_harness.h"

namespace tlgw::testing {
namespace {

using Harness = ServiceHarness;
constexpr size_t kMiB = 1 << 20;

gw::UploadVideoFileRequest Header(int64_t size, const std::string& filename = "clip.mp4",
                                  const std::string& index_id = kIndexA) {
  gw::UploadVideoFileRequest r;
  r.mutable_header()->set_index_id(index_id);
  r.mutable_header()->set_filename(filename);
  r.mutable_header()->set_size_bytes(size);
  return r;
}

gw::UploadVideoFileRequest Chunk(std::string bytes) {
  gw::UploadVideoFileRequest r;
  r.set_chunk(std::move(bytes));
  return r;
}

class UploadServiceTest : public ::testing::Test {
 protected:
  explicit UploadServiceTest(ApiVersion version = ApiVersion::kV1_3)
      : h_(DefaultConfig(), WatchOptions(), version) {}

  // Sends `messages` then closes the stream; the call's status.
  grpc::Status Send(const std::vector<gw::UploadVideoFileRequest>& messages, gw::Task* task,
                    const std::string& token = kMediaToken) {
    auto ctx = Harness::Ctx(token);
    auto writer = h_.uploads()->UploadVideoFile(ctx.get(), task);
    for (const auto& m : messages) {
      if (!writer->Write(m)) break;  // the server has already answered
    }
    writer->WritesDone();
    return writer->Finish();
  }
  grpc::Status CreateUrl(const gw::CreateUrlTaskRequest& req, gw::Task* out, const std::string& token = kMediaToken) {
    return h_.uploads()->CreateUrlTask(Harness::Ctx(token).get(), req, out);
  }
  static gw::CreateUrlTaskRequest UrlRequest(const std::string& request_id = "") {
    gw::CreateUrlTaskRequest r;
    r.set_index_id(kIndexA);
    r.set_video_url("https://cdn.example.com/a.mp4");
    r.set_request_id(request_id);
    return r;
  }

  Harness h_;
};

// ---- REST mapping ---------------------------------------------------------------

TEST_F(UploadServiceTest, CreateUrlTaskSendsEveryFieldWithTheTenantsKeyAndReturnsTheWholeTask) {
  gw::CreateUrlTaskRequest req = UrlRequest();
  req.set_language("en");
  req.set_enable_video_stream(true);
  req.set_transcription_url("https://cdn.example.com/a.vtt");
  (*req.mutable_user_metadata()->mutable_fields())["team"].set_string_value("sports");
  gw::Task task;
  grpc::Status s = CreateUrl(req, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  auto calls = h_.api().calls();
  ASSERT_EQ(calls.size(), 2u) << "a create and the read of the new task";
  EXPECT_EQ(calls[0].method, "CreateUrlTask");
  EXPECT_EQ(calls[0].index_id, kIndexA);
  EXPECT_EQ(calls[0].opts.api_key, kMediaKey);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*calls[0].request, req))
      << calls[0].request->DebugString();
  EXPECT_EQ(calls[1].method, "GetTask");
  EXPECT_EQ(calls[1].id, task.id());
  EXPECT_EQ(calls[1].opts.api_key, kMediaKey);
  // The whole task, as read back.
  EXPECT_FALSE(task.id().empty());
  EXPECT_EQ(task.index_id(), kIndexA);
  EXPECT_FALSE(task.video_id().empty());
  EXPECT_EQ(task.status(), gw::TASK_STATUS_PENDING);
  // Recorded as the creating tenant's.
  auto owner = h_.store().Owner(task.id());
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(*owner, "media");

  ASSERT_TRUE(CreateUrl(UrlRequest(), &task, kNewsToken).ok());
  EXPECT_EQ(h_.api().calls()[2].opts.api_key, kNewsKey);
  EXPECT_EQ(*h_.store().Owner(task.id()), "news");
}

TEST_F(UploadServiceTest, WhenTheReadBackFailsTheCreateStillAnswersTheNewTask) {
  h_.api().FailNext("GetTask", absl::UnavailableError("flaky"));
  gw::Task task;
  grpc::Status s = CreateUrl(UrlRequest(), &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_FALSE(task.id().empty());
  EXPECT_FALSE(task.video_id().empty());
  EXPECT_EQ(task.index_id(), kIndexA);
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 1);
}

TEST_F(UploadServiceTest, CreateExternalProviderTaskIsRefusedOnV13BeforeAnyUpstreamCall) {
  gw::CreateExternalProviderTaskRequest req;
  req.set_index_id(kIndexA);
  req.set_url("https://www.youtube.com/watch?v=abc");
  req.set_request_id("ext-1");
  gw::Task task;
  grpc::Status s = h_.uploads()->CreateExternalProviderTask(Harness::Ctx(kMediaToken).get(), req, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "METHOD_NOT_IN_API_VERSION");
  EXPECT_TRUE(h_.api().calls().empty());
}

class UploadServiceV12Test : public UploadServiceTest {
 protected:
  UploadServiceV12Test() : UploadServiceTest(ApiVersion::kV1_2) {}
};

TEST_F(UploadServiceV12Test, CreateExternalProviderTaskMapsToItsRestCallOnV12) {
  gw::CreateExternalProviderTaskRequest req;
  req.set_index_id(kIndexA);
  req.set_url("https://youtu.be/abc");
  gw::Task task;
  grpc::Status s = h_.uploads()->CreateExternalProviderTask(Harness::Ctx(kNewsToken).get(), req, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  auto calls = h_.api().calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls[0].method, "CreateExternalProviderTask");
  EXPECT_EQ(calls[0].index_id, kIndexA);
  EXPECT_EQ(calls[0].opts.api_key, kNewsKey);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*calls[0].request, req));
  EXPECT_EQ(*h_.store().Owner(task.id()), "news");
}

// ---- Validation and permissions -----------------------------------------------------

TEST_F(UploadServiceTest, BadCreatesAreInvalidArgumentNamingTheFieldBeforeAnyUpstreamCall) {
  struct Case {
    std::string name;
    std::function<void(gw::CreateUrlTaskRequest*)> edit;
    std::string field;
  };
  std::vector<Case> cases = {
      {"missing index", [](auto* r) { r->clear_index_id(); }, "index_id"},
      {"malformed index", [](auto* r) { r->set_index_id("xyz"); }, "index_id"},
      {"empty url", [](auto* r) { r->clear_video_url(); }, "video_url"},
      {"ftp url", [](auto* r) { r->set_video_url("ftp://x.example/a.mp4"); }, "video_url"},
      {"space in url", [](auto* r) { r->set_video_url("https://x.example/a b.mp4"); }, "video_url"},
      {"no host", [](auto* r) { r->set_video_url("https:///a.mp4"); }, "video_url"},
      {"youtube url", [](auto* r) { r->set_video_url("https://youtu.be/abc"); }, "video_url"},
      {"bad transcription url", [](auto* r) { r->set_transcription_url("file:///etc/passwd"); },
       "transcription_url"},
      {"long language", [](auto* r) { r->set_language(std::string(17, 'e')); }, "language"},
      {"bad request_id", [](auto* r) { r->set_request_id("no spaces allowed"); }, "request_id"},
      {"long request_id", [](auto* r) { r->set_request_id(std::string(129, 'a')); }, "request_id"},
      {"nested user_metadata",
       [](auto* r) { (*r->mutable_user_metadata()->mutable_fields())["deep"].mutable_list_value(); },
       "user_metadata.deep"},
  };
  for (const auto& c : cases) {
    gw::CreateUrlTaskRequest req = UrlRequest();
    c.edit(&req);
    gw::Task t;
    grpc::Status s = CreateUrl(req, &t);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name << ": " << Describe(s);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), c.field)) << c.name << ": " << s.error_message();
    auto fields = BadFieldsOf(s);
    EXPECT_TRUE(std::find(fields.begin(), fields.end(), c.field) != fields.end()) << c.name;
  }
  gw::CreateExternalProviderTaskRequest ext;
  ext.set_index_id(kIndexA);
  ext.set_url("https://vimeo.com/123");
  gw::Task t;
  grpc::Status s = h_.uploads()->CreateExternalProviderTask(Harness::Ctx(kMediaToken).get(), ext, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "url")) << s.error_message();
  EXPECT_TRUE(h_.api().calls().empty()) << "bad input reached upstream";
}

TEST_F(UploadServiceTest, CredentialsMethodsAndIndexesAreCheckedBeforeAnyUpstreamCall) {
  gw::Task t;
  grpc::Status s = CreateUrl(UrlRequest(), &t, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(s);
  s = CreateUrl(UrlRequest(), &t, "tlgw_not_a_client");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(s);
  s = Send({Header(4), Chunk("abcd")}, &t, "tlgw_not_a_client");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(s);

  // The reader may upload but not create from a URL.
  s = CreateUrl(UrlRequest(), &t, kReaderToken);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "METHOD_NOT_ALLOWED");
  EXPECT_TRUE(absl::StrContains(s.error_message(), "CreateUrlTask")) << s.error_message();
  // ... and only into its index, which an upload names in its header.
  s = Send({Header(4, "clip.mp4", kIndexB), Chunk("abcd")}, &t, kReaderToken);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "INDEX_NOT_ALLOWED");
  EXPECT_TRUE(h_.api().calls().empty()) << "a refused call reached upstream";

  s = Send({Header(4, "clip.mp4", kIndexA), Chunk("abcd")}, &t, kReaderToken);
  EXPECT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().calls().front().opts.api_key, kMediaKey);
}

// ---- Upstream errors -------------------------------------------------------------------

TEST_F(UploadServiceTest, UpstreamErrorsPassThroughAndReleaseTheRequestId) {
  h_.api().FailNext("CreateUrlTask", WithErrorInfo(absl::InvalidArgumentError("video_url: the file is not a video"),
                                                   "PARAMETER_INVALID", kUpstreamDomain));
  gw::Task t;
  grpc::Status s = CreateUrl(UrlRequest("req-fail-1"), &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "not a video")) << s.error_message();
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "PARAMETER_INVALID");
  EXPECT_EQ(ErrorInfoOf(s)->domain(), kUpstreamDomain);
  // The failed create did not keep the request_id: a retry creates.
  s = CreateUrl(UrlRequest("req-fail-1"), &t);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 2);

  h_.api().FailNext("UploadVideoFile", WithRetryDelay(absl::UnavailableError("upstream is down"), absl::Seconds(3)));
  std::string data = Bytes(1000, 1);
  s = Send({Header(data.size()), Chunk(data)}, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  EXPECT_EQ(*RetryDelayOf(s), absl::Seconds(3));
  EXPECT_EQ(h_.api().count("UploadVideoFile"), 1) << "an upload is never retried: its stream cannot be replayed";
  EXPECT_TRUE(h_.api().uploaded().empty());
}

// ---- Idempotent creates --------------------------------------------------------------

TEST_F(UploadServiceTest, RepeatedRequestIdMakesOneUpstreamTaskPerTenant) {
  gw::Task first, second, other_tenant;
  ASSERT_TRUE(CreateUrl(UrlRequest("req-0001"), &first).ok());
  grpc::Status s = CreateUrl(UrlRequest("req-0001"), &second);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(first.id(), second.id());
  EXPECT_EQ(second.status(), gw::TASK_STATUS_PENDING) << "the repeat reads the task fresh";
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 1);

  // The same id with other fields is a mistake, not a repeat.
  gw::CreateUrlTaskRequest changed = UrlRequest("req-0001");
  changed.set_video_url("https://cdn.example.com/b.mp4");
  s = CreateUrl(changed, &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "request_id")) << s.error_message();
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 1);

  // Another tenant's request ids are its own.
  ASSERT_TRUE(CreateUrl(UrlRequest("req-0001"), &other_tenant, kNewsToken).ok());
  EXPECT_NE(other_tenant.id(), first.id());
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 2);
}

TEST_F(UploadServiceTest, RepeatWhileTheFirstCreateRunsIsAbortedWithRetryInfo) {
  h_.api().hold(true);
  gw::Task first;
  grpc::Status first_status;
  std::thread creator([&] { first_status = CreateUrl(UrlRequest("req-slow"), &first); });
  ASSERT_TRUE(h_.api().AwaitHeld(1)) << "the first create did not reach upstream";

  gw::Task second;
  grpc::Status s = CreateUrl(UrlRequest("req-slow"), &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << Describe(s);
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "REQUEST_IN_PROGRESS");
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  EXPECT_GT(*RetryDelayOf(s), absl::ZeroDuration());
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 1);

  h_.api().hold(false);
  ASSERT_TRUE(h_.api().CompleteNext());
  creator.join();
  ASSERT_TRUE(first_status.ok()) << Describe(first_status);
  s = CreateUrl(UrlRequest("req-slow"), &second);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(second.id(), first.id());
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 1);
}

// ---- UploadVideoFile streaming ------------------------------------------------------------

TEST_F(UploadServiceTest, UploadedBytesArriveIntactWithTheHeadersFields) {
  std::string data = Bytes(3 * kMiB + 12345, 7);
  auto header = Header(data.size(), "match.mp4");
  header.mutable_header()->set_language("en");
  (*header.mutable_header()->mutable_user_metadata()->mutable_fields())["k"].set_string_value("v");
  std::vector<gw::UploadVideoFileRequest> messages = {header};
  for (size_t at = 0; at < data.size(); at += kMiB) messages.push_back(Chunk(data.substr(at, kMiB)));
  gw::Task task;
  grpc::Status s = Send(messages, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  auto uploaded = h_.api().uploaded();
  ASSERT_EQ(uploaded.size(), 1u);
  EXPECT_EQ(uploaded[0].size(), data.size());
  EXPECT_TRUE(uploaded[0] == data) << "the bytes changed on the way";
  auto calls = h_.api().calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0].method, "UploadVideoFile");
  EXPECT_EQ(calls[0].index_id, kIndexA);
  EXPECT_EQ(calls[0].opts.api_key, kMediaKey);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*calls[0].request, header.header()));
  EXPECT_EQ(task.system_metadata().filename(), "match.mp4");
  EXPECT_EQ(task.index_id(), kIndexA);
  EXPECT_EQ(*h_.store().Owner(task.id()), "media");
}

TEST_F(UploadServiceTest, ChunksOfExactlyFourMiBAreAccepted) {
  std::string data = Bytes(4 * kMiB, 3);
  gw::Task task;
  grpc::Status s = Send({Header(data.size()), Chunk(data)}, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(h_.api().uploaded().size(), 1u);
  EXPECT_TRUE(h_.api().uploaded()[0] == data);
}

// Waits (bounded) until no upload holds any of the budget: a call's
// server side may finish after its client has the answer.
bool BudgetDrains(Harness& h) {
  for (int i = 0; i < 500 && h.upload_budget().reserved() != 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  return h.upload_budget().reserved() == 0;
}

TEST_F(UploadServiceTest, UploadOverTheUploadMemoryBudgetIsRefusedBeforeUpstreamAndRunsOnceTheFirstEnds) {
  // Room for one 3000-byte upload's pipe, not two.
  h_.SetUploadBudget(5000);
  const std::string a = Bytes(3000, 21), b = Bytes(3000, 22);
  auto ctx = Harness::Ctx(kMediaToken);
  gw::Task first;
  auto writer = h_.uploads()->UploadVideoFile(ctx.get(), &first);
  ASSERT_TRUE(writer->Write(Header(a.size(), "a.mp4")));
  ASSERT_TRUE(writer->Write(Chunk(a.substr(0, 1000))));  // the rest later: the upload stays open
  for (int i = 0; i < 500 && h_.api().count("UploadVideoFile") == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(h_.api().count("UploadVideoFile"), 1);
  EXPECT_EQ(h_.upload_budget().reserved(), 3000) << "a small file reserves its size, not the whole pipe";

  gw::UploadVideoFileRequest second_header = Header(b.size(), "b.mp4");
  second_header.mutable_header()->set_request_id("second-upload");
  gw::Task second;
  grpc::Status s = Send({second_header, Chunk(b)}, &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(s);
  auto info = ErrorInfoOf(s);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "UPLOAD_CAPACITY");
  EXPECT_EQ(info->domain(), "tl-gateway");
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  EXPECT_GE(*RetryDelayOf(s), absl::Seconds(1));
  EXPECT_TRUE(absl::StrContains(s.error_message(), "retry")) << s.error_message();
  EXPECT_EQ(h_.api().count("UploadVideoFile"), 1) << "the refused upload reached upstream";
  EXPECT_EQ(h_.upload_budget().refusals(), 1);

  ASSERT_TRUE(writer->Write(Chunk(a.substr(1000))));
  writer->WritesDone();
  s = writer->Finish();
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.upload_budget().reserved(), 0) << "released before the answer";

  // Its request_id was never claimed: the retry uploads.
  s = Send({second_header, Chunk(b)}, &second);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().count("UploadVideoFile"), 2);
  ASSERT_EQ(h_.api().uploaded().size(), 2u);
  EXPECT_TRUE(h_.api().uploaded()[1] == b);
  EXPECT_TRUE(BudgetDrains(h_));
}

TEST_F(UploadServiceTest, UploadMemoryIsGivenBackAfterFailureCancelAndARepeat) {
  const std::string data = Bytes(7 * kMiB, 23);  // over the pipe's bound
  std::vector<gw::UploadVideoFileRequest> messages = {Header(data.size())};
  for (size_t at = 0; at < data.size(); at += kMiB) messages.push_back(Chunk(data.substr(at, kMiB)));
  gw::Task task;
  // Upstream refuses the file.
  h_.api().FailNext("UploadVideoFile", absl::InvalidArgumentError("bad file"));
  EXPECT_FALSE(Send(messages, &task).ok());
  EXPECT_TRUE(BudgetDrains(h_)) << h_.upload_budget().reserved();
  // The client's stream ends early.
  EXPECT_EQ(Send({messages[0], messages[1]}, &task).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(BudgetDrains(h_)) << h_.upload_budget().reserved();
  // The client cancels mid-stream.
  {
    auto ctx = Harness::Ctx(kMediaToken);
    auto writer = h_.uploads()->UploadVideoFile(ctx.get(), &task);
    ASSERT_TRUE(writer->Write(messages[0]));
    ASSERT_TRUE(writer->Write(messages[1]));
    for (int i = 0; i < 500 && h_.upload_budget().reserved() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
    EXPECT_EQ(h_.upload_budget().reserved(), kUploadPipeMaxBytes) << "a large file reserves the pipe's bound";
    ctx->TryCancel();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(BudgetDrains(h_)) << h_.upload_budget().reserved();
  // A success, then a repeat of it answered from its request_id.
  messages[0].mutable_header()->set_request_id("budget-repeat");
  ASSERT_TRUE(Send(messages, &task).ok());
  EXPECT_EQ(h_.upload_budget().reserved(), 0);
  gw::Task again;
  ASSERT_TRUE(Send({messages[0]}, &again).ok());
  EXPECT_EQ(again.id(), task.id());
  EXPECT_TRUE(BudgetDrains(h_)) << h_.upload_budget().reserved();
}

TEST_F(UploadServiceTest, BadStreamsFailWithTheRightCodeAndLeaveNoTask) {
  struct Case {
    std::string name;
    std::vector<gw::UploadVideoFileRequest> messages;
    grpc::StatusCode code;
    std::string mentions;
    std::string reason;  // ErrorInfo reason, when one is expected
  };
  auto header_with = [](std::function<void(gw::UploadVideoFileHeader*)> edit) {
    auto h = Header(8);
    edit(h.mutable_header());
    return h;
  };
  std::vector<Case> cases = {
      {"more bytes than declared", {Header(10), Chunk(Bytes(8, 1)), Chunk(Bytes(8, 2))},
       grpc::StatusCode::OUT_OF_RANGE, "more than the 10 bytes", "MORE_BYTES_THAN_DECLARED"},
      {"fewer bytes than declared", {Header(100), Chunk(Bytes(40, 3))}, grpc::StatusCode::INVALID_ARGUMENT,
       "after 40 bytes", ""},
      {"over the 2 GiB limit", {Header(int64_t{3} << 30)}, grpc::StatusCode::OUT_OF_RANGE, "2 GiB",
       "FILE_TOO_LARGE"},
      {"empty file", {Header(0)}, grpc::StatusCode::INVALID_ARGUMENT, "header.size_bytes", ""},
      {"no header", {Chunk(Bytes(8, 4))}, grpc::StatusCode::INVALID_ARGUMENT, "before the header", ""},
      {"header twice", {Header(16), Header(16)}, grpc::StatusCode::INVALID_ARGUMENT, "twice", ""},
      {"nothing at all", {}, grpc::StatusCode::INVALID_ARGUMENT, "header", ""},
      {"empty message", {gw::UploadVideoFileRequest()}, grpc::StatusCode::INVALID_ARGUMENT, "payload", ""},
      {"bad index", {header_with([](auto* h) { h->set_index_id("nope"); })}, grpc::StatusCode::INVALID_ARGUMENT,
       "header.index_id", ""},
      {"no filename", {header_with([](auto* h) { h->clear_filename(); })}, grpc::StatusCode::INVALID_ARGUMENT,
       "header.filename", ""},
      {"path in filename", {Header(8, "../etc/passwd")}, grpc::StatusCode::INVALID_ARGUMENT, "header.filename",
       ""},
      {"bad request_id", {header_with([](auto* h) { h->set_request_id("a b"); })},
       grpc::StatusCode::INVALID_ARGUMENT, "header.request_id", ""},
      {"chunk over 4 MiB", {Header(8 * kMiB), Chunk(Bytes(4 * kMiB + 1, 5))}, grpc::StatusCode::OUT_OF_RANGE,
       "smaller chunks", "CHUNK_TOO_LARGE"},
  };
  for (const auto& c : cases) {
    gw::Task task;
    grpc::Status s = Send(c.messages, &task);
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << Describe(s);
    EXPECT_TRUE(absl::StrContains(s.error_message(), c.mentions)) << c.name << ": " << s.error_message();
    if (!c.reason.empty()) {
      auto info = ErrorInfoOf(s);
      ASSERT_TRUE(info.has_value()) << c.name;
      EXPECT_EQ(info->reason(), c.reason) << c.name;
    }
  }
  EXPECT_TRUE(h_.api().uploaded().empty()) << "a bad stream left a task upstream";
}

TEST_F(UploadServiceTest, HostileFileNamesAreRefusedNamingTheFieldBeforeAnyUpstreamCall) {
  struct Case {
    std::string name;
    std::string filename;
    std::string says;  // what the message tells the caller to fix
  };
  const std::vector<Case> cases = {
      {"NUL", std::string("a\0b.mp4", 7), "control characters (U+0000"},
      {"CR LF header injection", "a.mp4\r\nX-Evil: 1", "control characters (U+000D"},
      {"tab", "a\tb.mp4", "control characters (U+0009"},
      {"DEL", "a\x7f.mp4", "control characters (U+007F"},
      {"C1 (U+0085)", "a\xc2\x85.mp4", "control characters (U+0085"},
      {"C1 (U+009B CSI)", "a\xc2\x9b.mp4", "control characters (U+009B"},
      {"double quote", "a\".mp4", "remove the quotes"},
      {"backslash", "a\\b.mp4", "'/' or '\\'"},
      {"slash", "dir/b.mp4", "'/' or '\\'"},
      {"RLO U+202E", "clip\xe2\x80\xaemp4.exe", "bidirectional override or isolate characters (U+202E"},
      {"LRE U+202A", "\xe2\x80\xaa" "a.mp4", "U+202A"},
      {"RLI U+2067", "a\xe2\x81\xa7.mp4", "U+2067"},
      {"PDI U+2069", "a\xe2\x81\xa9.mp4", "U+2069"},
      {"too long", std::string(256, 'a'), "longer than 255 bytes"},
  };
  for (const auto& c : cases) {
    gw::Task task;
    grpc::Status s = Send({Header(8, c.filename), Chunk(Bytes(8, 1))}, &task);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name << ": " << Describe(s);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "header.filename: ")) << c.name << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), c.says)) << c.name << ": " << s.error_message();
    auto info = ErrorInfoOf(s);
    ASSERT_TRUE(info.has_value()) << c.name;
    EXPECT_EQ(info->reason(), "INVALID_FIELD") << c.name;
  }
  // Invalid UTF-8 in a proto3 string never parses, so gRPC refuses it before
  // the gateway's own check (ValidateFileName, validation_test) sees it.
  for (const std::string& bad : {std::string("a\x80.mp4"), std::string("a\xc0\xaf.mp4")}) {
    gw::Task task;
    EXPECT_FALSE(Send({Header(8, bad), Chunk(Bytes(8, 1))}, &task).ok());
  }
  EXPECT_TRUE(h_.api().calls().empty()) << "a hostile file name reached the upstream";

  // Non-ASCII names that are none of the above pass through unchanged.
  for (const std::string& fine : {std::string("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.mp4"),
                                  std::string("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d.mp4"), std::string("a'b (1).mp4")}) {
    gw::Task task;
    grpc::Status s = Send({Header(8, fine), Chunk(Bytes(8, 1))}, &task);
    ASSERT_TRUE(s.ok()) << fine << ": " << Describe(s);
    EXPECT_EQ(task.system_metadata().filename(), fine);
  }
}

TEST_F(UploadServiceTest, RepeatedUploadRequestIdReturnsTheFirstTask) {
  std::string data = Bytes(kMiB, 11);
  auto header = Header(data.size());
  header.mutable_header()->set_request_id("upload-0001");
  gw::Task first, second;
  ASSERT_TRUE(Send({header, Chunk(data)}, &first).ok());
  grpc::Status s = Send({header, Chunk(data)}, &second);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(first.id(), second.id());
  EXPECT_EQ(h_.api().uploaded().size(), 1u);
  // Another file under the same request_id is refused.
  auto other = Header(data.size(), "other.mp4");
  other.mutable_header()->set_request_id("upload-0001");
  s = Send({other, Chunk(data)}, &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "request_id")) << s.error_message();
  EXPECT_EQ(h_.api().uploaded().size(), 1u);
}

// ---- Recovery after a crash mid-create -------------------------------------------------

// What a gateway that died mid-create left behind: its claim of
// `request_id`, recorded before its upstream POST, for an attempt that had
// until `timeout` from now. (The gateway that made it is gone: nothing will
// complete or release it.) The fake clock starts at midnight UTC; unless
// `at_midnight`, the attempt is made an hour later, so its window lies in
// one day.
void LeaveCrashedClaim(Harness& h, const std::string& method, const google::protobuf::Message& req,
                       const std::string& request_id, const std::string& source,
                       bool at_midnight = false) {
  const absl::Duration timeout = absl::Seconds(3);
  if (!at_midnight) h.clock().Advance(absl::Hours(1));
  const absl::Time now = h.clock().Now();
  auto claim = h.store().Claim(CreateScope("media", method), request_id, RequestFingerprint(req),
                               RequestStore::Attempt{kIndexA, source, now, now + timeout});
  ASSERT_TRUE(claim.ok()) << claim.status();
  ASSERT_EQ(claim->outcome, RequestStore::Outcome::kNew);
}

// A task upstream, created `after` the fake clock's now, named `filename`.
gw::Task UpstreamTask(Harness& h, const std::string& id, const std::string& filename, absl::Duration after,
                      const std::string& index_id = kIndexA) {
  gw::Task t = MakeTask(id, index_id, gw::TASK_STATUS_PENDING);
  t.mutable_create_time()->set_seconds(absl::ToUnixSeconds(h.clock().Now() + after));
  t.mutable_system_metadata()->set_filename(filename);
  h.api().PutTask(t);
  return t;
}

TEST_F(UploadServiceTest, NormalCreatesWithARequestIdNeverListUpstream) {
  gw::Task first, again;
  ASSERT_TRUE(CreateUrl(UrlRequest("req-plain"), &first).ok());
  ASSERT_TRUE(CreateUrl(UrlRequest("req-plain"), &again).ok());
  std::string data = Bytes(1000, 3);
  auto header = Header(data.size());
  header.mutable_header()->set_request_id("upload-plain");
  ASSERT_TRUE(Send({header, Chunk(data)}, &first).ok());
  ASSERT_TRUE(Send({header, Chunk(data)}, &again).ok());
  EXPECT_EQ(h_.api().count("ListTasks"), 0);
}

TEST_F(UploadServiceTest, AUrlCreateWhoseGatewayDiedIsAdoptedFromUpstreamNotCreatedAgain) {
  gw::CreateUrlTaskRequest req = UrlRequest("req-crash-1");
  LeaveCrashedClaim(h_, "CreateUrlTask", req, "req-crash-1", req.video_url());
  // Upstream: another tenant's upload of the same name (owned: not ours),
  // the crashed create's task, and a later one of the same name.
  UpstreamTask(h_, "aaaaaaaaaaaaaaaaaaaaaa01", "a.mp4", absl::Milliseconds(100));
  ASSERT_TRUE(h_.store().RecordOwner("aaaaaaaaaaaaaaaaaaaaaa01", "news").ok());
  UpstreamTask(h_, "aaaaaaaaaaaaaaaaaaaaaa02", "a.mp4", absl::Seconds(1));
  UpstreamTask(h_, "aaaaaaaaaaaaaaaaaaaaaa03", "a.mp4", absl::Seconds(2));
  UpstreamTask(h_, "aaaaaaaaaaaaaaaaaaaaaa04", "b.mp4", absl::Seconds(1));

  // Before the attempt's deadline (3 s) and margin (2 s): still its claim.
  h_.clock().Advance(absl::Seconds(4));
  gw::Task task;
  grpc::Status s = CreateUrl(req, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << Describe(s);
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  EXPECT_EQ(*RetryDelayOf(s), absl::Seconds(1)) << "the claim is takeable in 1 s";
  EXPECT_EQ(h_.api().count("ListTasks"), 0);

  h_.clock().Advance(absl::Seconds(2));
  s = CreateUrl(req, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(task.id(), "aaaaaaaaaaaaaaaaaaaaaa02") << "the earliest unowned task of that name in the window";
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 0) << "adopted, not created again";
  EXPECT_EQ(h_.api().count("ListTasks"), 1);
  auto list = h_.api().calls();
  auto* listed = dynamic_cast<const gw::ListTasksRequest*>(list[0].request.get());
  ASSERT_NE(listed, nullptr);
  EXPECT_EQ(listed->index_id(), kIndexA);
  EXPECT_EQ(listed->filename(), "a.mp4");
  EXPECT_EQ(*h_.store().Owner(task.id()), "media");

  // Recorded as the request's result: the next repeat looks no more.
  gw::Task again;
  ASSERT_TRUE(CreateUrl(req, &again).ok());
  EXPECT_EQ(again.id(), task.id());
  EXPECT_EQ(h_.api().count("ListTasks"), 1);
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 0);
}

TEST_F(UploadServiceTest, AUrlCreateWhoseGatewayDiedBeforeUpstreamHadItCreatesOnce) {
  gw::CreateUrlTaskRequest req = UrlRequest("req-crash-2");
  // At midnight UTC: the window (with the clock skew) starts the day
  // before, and the list's created_at filter means "that day, at or after".
  LeaveCrashedClaim(h_, "CreateUrlTask", req, "req-crash-2", req.video_url(), /*at_midnight=*/true);
  // Same name, but outside the window (long before, with clock skew).
  UpstreamTask(h_, "aaaaaaaaaaaaaaaaaaaaaa05", "a.mp4", -absl::Minutes(5));
  h_.clock().Advance(absl::Seconds(6));
  gw::Task task;
  grpc::Status s = CreateUrl(req, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_NE(task.id(), "aaaaaaaaaaaaaaaaaaaaaa05");
  EXPECT_EQ(h_.api().count("ListTasks"), 2) << "one list per UTC day of the window";
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 1);
  gw::Task again;
  ASSERT_TRUE(CreateUrl(req, &again).ok());
  EXPECT_EQ(again.id(), task.id());
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 1);
}

TEST_F(UploadServiceTest, WhenTheLookUpFailsTheRetryIsUnavailableAndNothingIsCreated) {
  gw::CreateUrlTaskRequest req = UrlRequest("req-crash-3");
  LeaveCrashedClaim(h_, "CreateUrlTask", req, "req-crash-3", req.video_url());
  h_.clock().Advance(absl::Seconds(6));
  h_.api().FailNext("ListTasks", absl::UnavailableError("upstream is down"));
  gw::Task task;
  grpc::Status s = CreateUrl(req, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  ASSERT_TRUE(ErrorInfoOf(s).has_value());
  EXPECT_EQ(ErrorInfoOf(s)->reason(), "REQUEST_RECOVERY_FAILED");
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 0);
  // The next retry looks again at once, over the crashed attempt's window,
  // and finds the task that appeared there.
  UpstreamTask(h_, "aaaaaaaaaaaaaaaaaaaaaa06", "a.mp4", -absl::Seconds(5));
  s = CreateUrl(req, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(task.id(), "aaaaaaaaaaaaaaaaaaaaaa06");
  EXPECT_EQ(h_.api().count("ListTasks"), 2);
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 0);
}

TEST_F(UploadServiceTest, AnUploadWhoseGatewayDiedIsAdoptedWithoutUploadingAgain) {
  std::string data = Bytes(1000, 5);
  auto header = Header(data.size(), "match.mp4");
  header.mutable_header()->set_request_id("upload-crash-1");
  LeaveCrashedClaim(h_, "UploadVideoFile", header.header(), "upload-crash-1", "match.mp4");
  UpstreamTask(h_, "aaaaaaaaaaaaaaaaaaaaaa07", "match.mp4", absl::Seconds(2));
  h_.clock().Advance(absl::Seconds(6));
  gw::Task task;
  grpc::Status s = Send({header, Chunk(data)}, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(task.id(), "aaaaaaaaaaaaaaaaaaaaaa07");
  EXPECT_EQ(h_.api().count("UploadVideoFile"), 0);
  EXPECT_TRUE(h_.api().uploaded().empty());
  EXPECT_EQ(*h_.store().Owner(task.id()), "media");
}

// The look-up runs while the client streams: its chunks wait in the pipe
// (reading stops once it is full) and all reach the upload that follows.
TEST_F(UploadServiceTest, AnUploadWhoseGatewayDiedBeforeUpstreamHadItUploadsOnceWholly) {
  std::string data = Bytes(3 * kMiB, 6);
  auto header = Header(data.size(), "fresh.mp4");
  header.mutable_header()->set_request_id("upload-crash-2");
  LeaveCrashedClaim(h_, "UploadVideoFile", header.header(), "upload-crash-2", "fresh.mp4");
  h_.clock().Advance(absl::Seconds(6));
  h_.api().hold(true);
  gw::Task task;
  grpc::Status s;
  std::thread sender([&] {
    s = Send({header, Chunk(data.substr(0, kMiB)), Chunk(data.substr(kMiB, kMiB)),
              Chunk(data.substr(2 * kMiB))},
             &task);
  });
  ASSERT_TRUE(h_.api().AwaitHeld(1)) << "the look-up did not reach upstream";
  EXPECT_EQ(h_.api().count("UploadVideoFile"), 0) << "nothing uploaded before the look-up answered";
  h_.api().hold(false);
  ASSERT_TRUE(h_.api().CompleteNext());
  sender.join();
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().count("UploadVideoFile"), 1);
  ASSERT_EQ(h_.api().uploaded().size(), 1u);
  EXPECT_TRUE(h_.api().uploaded()[0] == data) << "the upload after the look-up lost or changed bytes";
}

// ---- Creates whose answer was lost ------------------------------------------

TEST_F(UploadServiceTest, ACreateThatTimedOutIsLookedForUpstreamBeforeItIsMadeAgain) {
  h_.clock().Advance(absl::Hours(1));
  gw::CreateUrlTaskRequest req = UrlRequest("req-lost-1");
  // The POST reached upstream, which made the task, but its answer was lost.
  h_.api().FailNext("CreateUrlTask", WithErrorInfo(absl::UnavailableError("timed out"), "UPSTREAM_TIMEOUT",
                                                  kGatewayDomain));
  UpstreamTask(h_, "aaaaaaaaaaaaaaaaaaaaaa0a", "a.mp4", absl::Milliseconds(10));
  gw::Task task;
  grpc::Status s = CreateUrl(req, &task);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  h_.clock().Advance(absl::Seconds(3));  // past the store's take-over margin
  s = CreateUrl(req, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(task.id(), "aaaaaaaaaaaaaaaaaaaaaa0a") << "the lost create's task, adopted";
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 1) << "never made twice";
  EXPECT_EQ(h_.api().count("ListTasks"), 1);
}

TEST_F(UploadServiceTest, ACreateUpstreamRefusedIsMadeAgainWithoutLooking) {
  h_.clock().Advance(absl::Hours(1));
  gw::CreateUrlTaskRequest req = UrlRequest("req-refused-1");
  h_.api().FailNext("CreateUrlTask", absl::InvalidArgumentError("video_url: not reachable"));
  gw::Task task;
  ASSERT_EQ(CreateUrl(req, &task).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status s = CreateUrl(req, &task);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 2);
  EXPECT_EQ(h_.api().count("ListTasks"), 0) << "a refusal says no task was made";
}

}  // namespace
}  // namespace tlgw::testing

namespace tlgw::testing {
namespace {

class IsolatedUploadServiceTest : public ::testing::Test {
 protected:
  IsolatedUploadServiceTest() : h_(IsolatedConfig()) {}
  Harness h_;
};

// With the shared state store down, a tenant that needs its tasks' owners
// recorded gets UNAVAILABLE (with RetryInfo) before anything is sent
// upstream: with or without request_id.
TEST_F(IsolatedUploadServiceTest, CreatesAreRefusedBeforeTheUpstreamPostWhileTheStateStoreIsDown) {
  h_.SetStateStoreDown(true);
  for (const std::string request_id : {"", "req-1"}) {
    gw::CreateUrlTaskRequest r;
    r.set_index_id(kIndexA);
    r.set_video_url("https://cdn.example.com/a.mp4");
    r.set_request_id(request_id);
    gw::Task out;
    grpc::Status s = h_.uploads()->CreateUrlTask(Harness::Ctx(kMediaToken).get(), r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << request_id << ": " << Describe(s);
    ASSERT_TRUE(ErrorInfoOf(s).has_value());
    EXPECT_EQ(ErrorInfoOf(s)->reason(), "STATE_STORE_UNAVAILABLE");
    EXPECT_TRUE(RetryDelayOf(s).has_value()) << request_id;
  }
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 0);
  h_.SetStateStoreDown(false);
  gw::CreateUrlTaskRequest r;
  r.set_index_id(kIndexA);
  r.set_video_url("https://cdn.example.com/a.mp4");
  gw::Task out;
  grpc::Status s = h_.uploads()->CreateUrlTask(Harness::Ctx(kMediaToken).get(), r, &out);
  EXPECT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().count("CreateUrlTask"), 1);
}

}  // namespace
}  // namespace tlgw::testing
