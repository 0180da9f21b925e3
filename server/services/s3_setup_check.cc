#include "server/services/s3_setup_check.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

namespace {

void Add(gw::CheckAwsS3SetupResponse* out, const char* field, gw::FindingSeverity severity,
         std::string problem, std::string fix) {
  gw::Finding* f = out->add_findings();
  f->set_field(field);
  f->set_severity(severity);
  f->set_problem(std::move(problem));
  f->set_fix(std::move(fix));
}

// The S3 bucket naming rules (general purpose buckets).
std::string BucketNameProblem(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return "must be 3 to 63 characters long";
  for (char c : b) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' || c == '-')) {
      return "may contain only lowercase letters, digits, dots and hyphens";
    }
  }
  auto alnum = [](char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); };
  if (!alnum(b.front()) || !alnum(b.back())) return "must begin and end with a letter or digit";
  if (absl::StrContains(b, "..")) return "must not contain two adjacent dots";
  int dots = 0;
  bool ip_like = true;
  for (char c : b) {
    if (c == '.') ++dots;
    else if (!absl::ascii_isdigit(c)) ip_like = false;
  }
  if (ip_like && dots == 3) return "must not look like an IP address";
  if (absl::StartsWith(b, "xn--") || absl::StartsWith(b, "sthree-")) return "uses a reserved prefix";
  if (absl::EndsWith(b, "-s3alias") || absl::EndsWith(b, "--ol-s3")) return "uses a reserved suffix";
  return "";
}

void CheckExactName(gw::CheckAwsS3SetupResponse* out, const char* field, const std::string& got,
                    const char* want, const char* what) {
  if (got == want) return;
  if (got.empty()) {
    Add(out, field, gw::FINDING_SEVERITY_ERROR, absl::StrCat("no ", what, " name given"),
        absl::StrCat("create the IAM ", what, " from the Twelve Labs dashboard's snippet and name it exactly ",
                     want));
    return;
  }
  std::string why = absl::EqualsIgnoreCase(got, want)
                        ? "differs from the required name only in letter case, and IAM names are case-sensitive"
                        : "is not the name Twelve Labs looks for";
  Add(out, field, gw::FINDING_SEVERITY_ERROR, absl::StrCat("the ", what, " name '", got, "' ", why),
      absl::StrCat("rename the IAM ", what, " to exactly ", want,
                   " (a renamed ", what, " breaks the integration)"));
}

}  // namespace

gw::CheckAwsS3SetupResponse CheckAwsS3Setup(const gw::CheckAwsS3SetupRequest& req) {
  gw::CheckAwsS3SetupResponse out;
  if (req.bucket().empty()) {
    Add(&out, "bucket", gw::FINDING_SEVERITY_ERROR, "no bucket name given",
        "pass the name of the S3 bucket that holds the videos");
  } else if (std::string p = BucketNameProblem(req.bucket()); !p.empty()) {
    Add(&out, "bucket", gw::FINDING_SEVERITY_ERROR, absl::StrCat("bucket name '", req.bucket(), "' ", p),
        "use the bucket's exact name as the S3 console shows it");
  }
  std::string region = absl::AsciiStrToLower(absl::StripAsciiWhitespace(req.region()));
  if (region.empty()) {
    Add(&out, "region", gw::FINDING_SEVERITY_ERROR, "no bucket region given",
        "pass the bucket's region; Twelve Labs requires us-west-2");
  } else if (region != kRequiredS3Region) {
    Add(&out, "region", gw::FINDING_SEVERITY_ERROR,
        absl::StrCat("the bucket is in '", req.region(), "', but Twelve Labs imports only from "
                     "buckets in us-west-2"),
        "use (or replicate the videos to) a bucket in us-west-2, or ask Twelve Labs sales about "
        "other regions");
  } else if (req.region() != kRequiredS3Region) {
    Add(&out, "region", gw::FINDING_SEVERITY_WARNING,
        absl::StrCat("region written as '", req.region(), "'"), "write it as us-west-2");
  }
  const std::string& account = req.aws_account_id();
  bool digits = account.size() == 12 &&
                std::all_of(account.begin(), account.end(), [](char c) { return absl::ascii_isdigit(c); });
  if (account.empty()) {
    Add(&out, "aws_account_id", gw::FINDING_SEVERITY_ERROR, "no AWS account id given",
        "pass the 12-digit id of the AWS account that owns the bucket");
  } else if (!digits) {
    Add(&out, "aws_account_id", gw::FINDING_SEVERITY_ERROR,
        absl::StrCat("'", account, "' is not a 12-digit AWS account id"),
        "copy the account id from the AWS console (12 digits, no dashes)");
  }
  CheckExactName(&out, "policy_name", req.policy_name(), kRequiredPolicyName, "policy");
  CheckExactName(&out, "role_name", req.role_name(), kRequiredRoleName, "role");
  std::stable_sort(out.mutable_findings()->begin(), out.mutable_findings()->end(),
                   [](const gw::Finding& a, const gw::Finding& b) { return a.severity() < b.severity(); });
  out.set_ok(std::none_of(out.findings().begin(), out.findings().end(), [](const gw::Finding& f) {
    return f.severity() == gw::FINDING_SEVERITY_ERROR;
  }));
  return out;
}

}  // namespace tlgw
