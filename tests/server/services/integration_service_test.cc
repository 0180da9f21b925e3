// IntegrationService in process: the real gRPC server and stub, the fake
// upstream and a fake clock (service_harness.h).
#include <gtest/gtest.h>

#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/common/status_details.h"
#include "tests/server/services/service_harness.h"

namespace tlgw::testing {
namespace {

using Harness = ServiceHarness;
using ImportWatch = WatchReader<gw::ImportStatusEvent>;

// An import with `in_progress` files still pending and `ready` files done.
gw::ImportStatus Import(int in_progress, int ready) {
  gw::ImportStatus s;
  for (int i = 0; i < in_progress; ++i) s.add_pending()->set_filename(absl::StrCat("p", i, ".mp4"));
  for (int i = 0; i < ready; ++i) {
    auto* v = s.add_ready();
    v->set_filename(absl::StrCat("r", i, ".mp4"));
    v->set_video_id(absl::StrCat("b0000000000000000000000", i));
  }
  return s;
}

std::string Reason(const grpc::Status& s) {
  auto info = ErrorInfoOf(s);
  return info ? info->reason() : "(none)";
}

class IntegrationServiceTest : public ::testing::Test {
 protected:
  grpc::Status ImportVideos(const std::string& token, const std::string& integration,
                            const std::string& index_id = kIndexA, gw::ImportVideosResponse* out = nullptr) {
    gw::ImportVideosRequest req;
    req.set_integration(integration);
    req.set_index_id(index_id);
    gw::ImportVideosResponse r;
    return h_.integrations()->ImportVideos(Harness::Ctx(token).get(), req, out != nullptr ? out : &r);
  }
  grpc::Status Status(const std::string& token, const std::string& integration,
                      const std::string& index_id = kIndexA, gw::ImportStatus* out = nullptr) {
    gw::GetImportStatusRequest req;
    req.set_integration(integration);
    req.set_index_id(index_id);
    gw::ImportStatus r;
    return h_.integrations()->GetImportStatus(Harness::Ctx(token).get(), req, out != nullptr ? out : &r);
  }
  grpc::Status Logs(const std::string& token, const gw::ListImportLogsRequest& req,
                    gw::ListImportLogsResponse* out) {
    return h_.integrations()->ListImportLogs(Harness::Ctx(token).get(), req, out);
  }
  std::unique_ptr<ImportWatch> Watch(const std::string& token, const std::string& integration,
                                     const std::string& index_id = kIndexA) {
    gw::WatchImportRequest req;
    req.set_integration(integration);
    req.set_index_id(index_id);
    auto* stub = h_.integrations();
    return std::make_unique<ImportWatch>(Harness::Ctx(token, absl::Seconds(30)),
                                         [stub, req](grpc::ClientContext* ctx) { return stub->WatchImport(ctx, req); });
  }
  static grpc::Status EndOf(ImportWatch& w) {
    auto s = w.Finish();
    return s.has_value() ? *s : grpc::Status(grpc::StatusCode::UNKNOWN, "the stream did not end");
  }

  Harness h_;
};

// ---- REST mapping ---------------------------------------------------------------

TEST_F(IntegrationServiceTest, ListIntegrationsShowsTheCallersTenantsOnlyPagedLocally) {
  gw::ListIntegrationsRequest req;
  gw::ListIntegrationsResponse resp;
  grpc::Status s = h_.integrations()->ListIntegrations(Harness::Ctx(kMediaToken).get(), req, &resp);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_EQ(resp.integrations_size(), 2);
  EXPECT_EQ(resp.integrations(0).name(), "archive");
  EXPECT_EQ(resp.integrations(1).name(), "marketing");
  EXPECT_EQ(resp.integrations(1).integration_id(), kMarketingId);
  EXPECT_EQ(resp.integrations(1).bucket(), "marketing-videos");
  EXPECT_EQ(resp.integrations(1).region(), "us-west-2");
  EXPECT_EQ(resp.integrations(1).tenant(), "media");
  EXPECT_TRUE(resp.next_page_token().empty());

  ASSERT_TRUE(h_.integrations()->ListIntegrations(Harness::Ctx(kNewsToken).get(), req, &resp).ok());
  ASSERT_EQ(resp.integrations_size(), 1);
  EXPECT_EQ(resp.integrations(0).name(), "sales");

  req.set_page_size(1);
  ASSERT_TRUE(h_.integrations()->ListIntegrations(Harness::Ctx(kMediaToken).get(), req, &resp).ok());
  ASSERT_EQ(resp.integrations_size(), 1);
  EXPECT_EQ(resp.integrations(0).name(), "archive");
  ASSERT_FALSE(resp.next_page_token().empty());
  req.set_page_token(resp.next_page_token());
  ASSERT_TRUE(h_.integrations()->ListIntegrations(Harness::Ctx(kMediaToken).get(), req, &resp).ok());
  ASSERT_EQ(resp.integrations_size(), 1);
  EXPECT_EQ(resp.integrations(0).name(), "marketing");
  EXPECT_TRUE(resp.next_page_token().empty());

  req.set_page_size(101);
  s = h_.integrations()->ListIntegrations(Harness::Ctx(kMediaToken).get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "page_size")) << s.error_message();
  EXPECT_TRUE(h_.api().calls().empty()) << "the list is the gateway's own";
}

TEST_F(IntegrationServiceTest, ImportVideosMapsNameOrIdToTheIntegrationAndRecordsTheVideosOwner) {
  gw::ImportVideosRequest req;
  req.set_integration("marketing");
  req.set_index_id(kIndexA);
  req.set_incremental_import(true);
  (*req.mutable_user_metadata()->mutable_fields())["batch"].set_string_value("7");
  gw::ImportVideosResponse resp;
  grpc::Status s = h_.integrations()->ImportVideos(Harness::Ctx(kMediaToken).get(), req, &resp);
  ASSERT_TRUE(s.ok()) << Describe(s);
  auto calls = h_.api().calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "ImportVideos");
  EXPECT_EQ(calls[0].id, kMarketingId);
  EXPECT_EQ(calls[0].index_id, kIndexA);
  EXPECT_EQ(calls[0].opts.api_key, kMediaKey);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*calls[0].request, req));
  ASSERT_EQ(resp.videos_size(), 1);
  auto owner = h_.store().Owner(resp.videos(0).video_id());
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(*owner, "media") << "an imported video is a task of the importing tenant";

  // The integration id names it too.
  ASSERT_TRUE(ImportVideos(kMediaToken, kMarketingId).ok());
  EXPECT_EQ(h_.api().calls().back().id, kMarketingId);
  // Another tenant's integration with its own key.
  ASSERT_TRUE(ImportVideos(kNewsToken, "sales", kIndexB).ok());
  EXPECT_EQ(h_.api().calls().back().id, kSalesId);
  EXPECT_EQ(h_.api().calls().back().opts.api_key, kNewsKey);
}

TEST_F(IntegrationServiceTest, GetImportStatusAndImportLogsMapToTheirRestCalls) {
  h_.api().PutImportStatus(kMarketingId, kIndexA, Import(2, 1));
  gw::ImportStatus status;
  grpc::Status s = Status(kMediaToken, "marketing", kIndexA, &status);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(status.pending_size(), 2);
  EXPECT_EQ(status.ready_size(), 1);
  auto call = h_.api().calls().back();
  EXPECT_EQ(call.method, "GetImportStatus");
  EXPECT_EQ(call.id, kMarketingId);
  EXPECT_EQ(call.index_id, kIndexA);
  EXPECT_EQ(call.opts.api_key, kMediaKey);

  gw::ListImportLogsResponse all;
  for (int i = 0; i < 5; ++i) all.add_logs()->set_index_name(absl::StrCat("run-", i));
  h_.api().PutImportLogs(kMarketingId, all);
  gw::ListImportLogsRequest req;
  req.set_integration("marketing");
  req.set_page_size(2);
  std::vector<std::string> names;
  gw::ListImportLogsResponse page;
  for (int i = 0; i < 3; ++i) {
    s = Logs(kMediaToken, req, &page);
    ASSERT_TRUE(s.ok()) << Describe(s);
    for (const auto& l : page.logs()) names.push_back(l.index_name());
    call = h_.api().calls().back();
    EXPECT_EQ(call.method, "ListImportLogs");
    EXPECT_EQ(call.id, kMarketingId);
    req.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"run-0", "run-1", "run-2", "run-3", "run-4"}));
  EXPECT_TRUE(page.next_page_token().empty());

  // A page token belongs to its integration.
  req.set_page_size(2);
  req.clear_page_token();
  ASSERT_TRUE(Logs(kMediaToken, req, &page).ok());
  req.set_integration("archive");
  req.set_page_token(page.next_page_token());
  const size_t before = h_.api().calls().size();
  s = Logs(kMediaToken, req, &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(s);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "page_token")) << s.error_message();
  EXPECT_EQ(h_.api().calls().size(), before);
}

TEST_F(IntegrationServiceTest, CheckAwsS3SetupIsAnsweredLocally) {
  gw::CheckAwsS3SetupRequest req;
  req.set_bucket("Not_A_Valid_Bucket");
  req.set_region("us-west-2");
  gw::CheckAwsS3SetupResponse resp;
  grpc::Status s = h_.integrations()->CheckAwsS3Setup(Harness::Ctx(kMediaToken).get(), req, &resp);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_FALSE(resp.ok());
  bool bucket_finding = false;
  for (const auto& f : resp.findings()) bucket_finding |= f.field() == "bucket";
  EXPECT_TRUE(bucket_finding) << resp.DebugString();
  EXPECT_TRUE(h_.api().calls().empty());
  s = h_.integrations()->CheckAwsS3Setup(Harness::Ctx("").get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// ---- Validation, authentication, authorization, isolation -----------------------------

TEST_F(IntegrationServiceTest, BadInputIsInvalidArgumentNamingTheFieldBeforeAnyUpstreamCall) {
  struct Case {
    std::string name;
    std::function<grpc::Status()> call;
    std::string field;
  };
  std::vector<Case> cases = {
      {"import without integration", [this] { return ImportVideos(kMediaToken, ""); }, "integration"},
      {"import without index", [this] { return ImportVideos(kMediaToken, "marketing", ""); }, "index_id"},
      {"import bad index", [this] { return ImportVideos(kMediaToken, "marketing", "XYZ"); }, "index_id"},
      {"import nested metadata",
       [this] {
         gw::ImportVideosRequest r;
         r.set_integration("marketing");
         r.set_index_id(kIndexA);
         (*r.mutable_user_metadata()->mutable_fields())["deep"].mutable_struct_value();
         gw::ImportVideosResponse resp;
         return h_.integrations()->ImportVideos(Harness::Ctx(kMediaToken).get(), r, &resp);
       },
       "user_metadata.deep"},
      {"status without index", [this] { return Status(kMediaToken, "marketing", ""); }, "index_id"},
      {"status without integration", [this] { return Status(kMediaToken, ""); }, "integration"},
      {"logs page size",
       [this] {
         gw::ListImportLogsRequest r;
         r.set_integration("marketing");
         r.set_page_size(101);
         gw::ListImportLogsResponse resp;
         return Logs(kMediaToken, r, &resp);
       },
       "page_size"},
      {"logs garbage token",
       [this] {
         gw::ListImportLogsRequest r;
         r.set_integration("marketing");
         r.set_page_token("garbage");
         gw::ListImportLogsResponse resp;
         return Logs(kMediaToken, r, &resp);
       },
       "page_token"},
      {"watch without index", [this] { return EndOf(*Watch(kMediaToken, "marketing", "")); }, "index_id"},
      {"watch without integration", [this] { return EndOf(*Watch(kMediaToken, "")); }, "integration"},
  };
  for (const auto& c : cases) {
    grpc::Status s = c.call();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name << ": " << Describe(s);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), c.field)) << c.name << ": " << s.error_message();
    auto fields = BadFieldsOf(s);
    EXPECT_TRUE(std::find(fields.begin(), fields.end(), c.field) != fields.end()) << c.name;
  }
  EXPECT_TRUE(h_.api().calls().empty()) << "bad input reached upstream";
}

TEST_F(IntegrationServiceTest, CredentialsMethodsAndIntegrationRestrictionsAreChecked) {
  grpc::Status s = ImportVideos("", "marketing");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(s);
  EXPECT_EQ(Reason(s), "UNAUTHENTICATED");
  EXPECT_EQ(EndOf(*Watch("tlgw_unknown", "marketing")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  gw::ListIntegrationsResponse list;
  EXPECT_EQ(h_.integrations()->ListIntegrations(Harness::Ctx("bad").get(), {}, &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // The reader has no IntegrationService method.
  s = Status(kReaderToken, "marketing");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << Describe(s);
  EXPECT_EQ(Reason(s), "METHOD_NOT_ALLOWED");

  // The importer may use "marketing" only, by name or id.
  for (const std::string& archive : {std::string("archive"), std::string(kArchiveId)}) {
    s = ImportVideos(kImporterToken, archive);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << archive << ": " << Describe(s);
    EXPECT_EQ(Reason(s), "INTEGRATION_NOT_ALLOWED") << archive;
    EXPECT_EQ(EndOf(*Watch(kImporterToken, archive)).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_TRUE(h_.api().calls().empty()) << "a refused call reached upstream";
  s = ImportVideos(kImporterToken, kMarketingId);
  EXPECT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(h_.api().calls().back().opts.api_key, kMediaKey);
}

TEST_F(IntegrationServiceTest, AnotherTenantsIntegrationIsNotConfiguredLikeAnUnknownOne) {
  h_.api().PutImportStatus(kMarketingId, kIndexA, Import(1, 0));
  auto check = [](const grpc::Status& theirs, const grpc::Status& unknown, const std::string& what) {
    EXPECT_EQ(theirs.error_code(), grpc::StatusCode::NOT_FOUND) << what << ": " << Describe(theirs);
    EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND) << what << ": " << Describe(unknown);
    EXPECT_EQ(Reason(theirs), "INTEGRATION_NOT_CONFIGURED") << what;
    EXPECT_EQ(Reason(unknown), "INTEGRATION_NOT_CONFIGURED") << what;
    EXPECT_TRUE(absl::StartsWith(theirs.error_message(), "integration")) << theirs.error_message();
  };
  check(ImportVideos(kNewsToken, "marketing"), ImportVideos(kNewsToken, "nope"), "ImportVideos");
  check(ImportVideos(kNewsToken, kMarketingId), ImportVideos(kNewsToken, "nope"), "ImportVideos by id");
  check(Status(kNewsToken, "marketing"), Status(kNewsToken, "nope"), "GetImportStatus");
  gw::ListImportLogsRequest logs;
  logs.set_integration("marketing");
  gw::ListImportLogsResponse resp;
  grpc::Status theirs = Logs(kNewsToken, logs, &resp);
  logs.set_integration("nope");
  check(theirs, Logs(kNewsToken, logs, &resp), "ListImportLogs");
  check(EndOf(*Watch(kNewsToken, "marketing")), EndOf(*Watch(kNewsToken, "nope")), "WatchImport");
  EXPECT_TRUE(h_.api().calls().empty()) << "another tenant's integration was used upstream";
  EXPECT_EQ(h_.import_watches().stats().entries, 0);
}

TEST_F(IntegrationServiceTest, UpstreamErrorsReachTheCallerWithTheirDetails) {
  h_.api().FailNext("ImportVideos",
                    WithErrorInfo(absl::FailedPreconditionError("the integration's IAM role cannot be assumed"),
                                  "integration_invalid", kUpstreamDomain));
  grpc::Status s = ImportVideos(kMediaToken, "marketing");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(s);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "IAM role")) << s.error_message();
  EXPECT_EQ(Reason(s), "integration_invalid");
  EXPECT_EQ(ErrorInfoOf(s)->domain(), kUpstreamDomain);

  h_.api().FailNext("GetImportStatus",
                    WithRetryDelay(absl::UnavailableError("upstream is down"), absl::Seconds(2)));
  s = Status(kMediaToken, "marketing");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(s);
  ASSERT_TRUE(RetryDelayOf(s).has_value());
  EXPECT_EQ(*RetryDelayOf(s), absl::Seconds(2));
}

// ---- WatchImport ---------------------------------------------------------------------

TEST_F(IntegrationServiceTest, WatchImportSendsTheStatusThenChangesThenEndsOkWhenDone) {
  h_.api().PutImportStatus(kMarketingId, kIndexA, Import(2, 0));
  auto watch = Watch(kMediaToken, "marketing");
  auto first = watch->Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status().pending_size(), 2);
  EXPECT_FALSE(first->done());
  auto call = h_.api().calls().back();
  EXPECT_EQ(call.method, "GetImportStatus");
  EXPECT_EQ(call.id, kMarketingId);
  EXPECT_EQ(call.index_id, kIndexA);
  EXPECT_EQ(call.opts.api_key, kMediaKey);

  h_.api().PutImportStatus(kMarketingId, kIndexA, Import(1, 1));
  h_.clock().Advance(absl::Seconds(60));
  auto second = watch->Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status().pending_size(), 1);
  EXPECT_EQ(second->status().ready_size(), 1);
  EXPECT_GT(second->sequence(), first->sequence());
  EXPECT_FALSE(second->done());

  h_.api().PutImportStatus(kMarketingId, kIndexA, Import(0, 2));
  h_.clock().Advance(absl::Seconds(60));
  auto last = watch->Next();
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->done());
  EXPECT_EQ(last->status().ready_size(), 2);
  grpc::Status end = EndOf(*watch);
  EXPECT_TRUE(end.ok()) << Describe(end);

  ASSERT_TRUE(Harness::AwaitSubscribers(h_.import_watches(), 0));
  const int polls = h_.api().count("GetImportStatus");
  h_.clock().Advance(absl::Minutes(5));
  EXPECT_EQ(h_.api().count("GetImportStatus"), polls) << "a finished import is still polled";
}

TEST_F(IntegrationServiceTest, WatchImportOfAnUnknownImportIsNotFound) {
  auto watch = Watch(kMediaToken, "marketing", kIndexB);
  grpc::Status end = EndOf(*watch);
  EXPECT_EQ(end.error_code(), grpc::StatusCode::NOT_FOUND) << Describe(end);
  EXPECT_FALSE(watch->Next(absl::ZeroDuration()).has_value());
}

// Drift (issue 10): "WatchImport does not end on client revocation and keeps
// using the key captured when it started" -- the revocation half.
TEST_F(IntegrationServiceTest, WatchImportEndsUnauthenticatedWhenItsClientIsRevokedByAReload) {
  h_.api().PutImportStatus(kMarketingId, kIndexA, Import(2, 0));
  auto revoked = Watch(kMediaToken, "marketing");
  auto other = Watch(kImporterToken, "marketing");  // same tenant, same import, another client
  ASSERT_TRUE(revoked->Next().has_value());
  ASSERT_TRUE(other->Next().has_value());

  GatewayConfig config = DefaultConfig();
  ASSERT_EQ(config.clients[0].id, "media-svc");
  config.clients.erase(config.clients.begin());
  auto changes = h_.Reload(config);
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_TRUE(absl::StrContains(*changes, "media-svc removed")) << *changes;

  auto end = revoked->Finish();
  ASSERT_TRUE(end.has_value()) << "the revoked client's WatchImport is still open";
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(*end);
  EXPECT_FALSE(other->Finish(absl::Milliseconds(50)).has_value()) << "another client's stream was ended";
  // The other client's stream goes on.
  h_.api().PutImportStatus(kMarketingId, kIndexA, Import(0, 2));
  h_.clock().Advance(absl::Seconds(60));
  auto done = other->Next();
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->done());
  EXPECT_EQ(Status(kMediaToken, "marketing").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A changed token revokes too.
  h_.api().PutImportStatus(kSalesId, kIndexB, Import(1, 0));
  auto news = Watch(kNewsToken, "sales", kIndexB);
  ASSERT_TRUE(news->Next().has_value());
  config.clients[0].token_sha256 = TokenSha256("tlgw_news_svc_token_v2");
  ASSERT_EQ(config.clients[0].id, "news-svc");
  ASSERT_TRUE(h_.Reload(config).ok());
  end = news->Finish();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(*end);
}

// Drift (issue 10): the key half -- after a rotation by reload, the open
// WatchImport's next poll uses the new key.
TEST_F(IntegrationServiceTest, WatchImportPollsWithTheRotatedKeyAfterAReload) {
  h_.api().PutImportStatus(kMarketingId, kIndexA, Import(3, 0));
  auto watch = Watch(kMediaToken, "marketing");
  ASSERT_TRUE(watch->Next().has_value());
  h_.clock().Advance(absl::Seconds(60));  // a few polls with the first key
  for (const auto& c : h_.api().calls()) EXPECT_EQ(c.opts.api_key, kMediaKey);
  const size_t before = h_.api().calls().size();

  GatewayConfig config = DefaultConfig();
  config.tenants[0].resolved_keys = {kMediaKeyRotated, kMediaKey};  // the new key first
  auto changes = h_.Reload(config);
  ASSERT_TRUE(changes.ok()) << changes.status();
  EXPECT_TRUE(absl::StrContains(*changes, "media key rotated")) << *changes;

  h_.api().PutImportStatus(kMarketingId, kIndexA, Import(2, 1));
  h_.clock().Advance(absl::Seconds(60));
  auto next = watch->Next();
  ASSERT_TRUE(next.has_value()) << "the stream did not go on after the rotation";
  EXPECT_EQ(next->status().ready_size(), 1);
  auto calls = h_.api().calls();
  ASSERT_GT(calls.size(), before) << "no poll after the reload";
  for (size_t i = before; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].method, "GetImportStatus");
    EXPECT_EQ(calls[i].opts.api_key, kMediaKeyRotated) << "poll " << i << " used the key captured at the start";
  }
  EXPECT_FALSE(watch->Finish(absl::Milliseconds(50)).has_value()) << "a key rotation ended the stream";
  // Unary calls use the new key too.
  ASSERT_TRUE(Status(kMediaToken, "marketing").ok());
  EXPECT_EQ(h_.api().calls().back().opts.api_key, kMediaKeyRotated);
}

}  // namespace
}  // namespace tlgw::testing
