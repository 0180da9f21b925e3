// Fuzzes the JSON -> proto mapping of upstream replies
// (server/twelvelabs/json_mapping.h) with the input as the body, under both
// API versions.
//
// Asserts (abort() on failure):
// - ParseTask and ParseTaskPage (the fast scanner, with its nlohmann
//   fallback) agree with the tree-based reference parsers
//   (tests/support/task_json_reference.h): the same status (code, message
//   and payloads) and, when OK, the same Task / page;
// - ParseRfc3339 agrees with the reference on the input as a time, and an
//   accepted time formats (FormatRfc3339) to text that parses back to the
//   same instant at millisecond precision;
// - every other parser (created task, index task counts, imports) returns
//   OK or an error, and an error is never OK-coded.
// Crashes and sanitizer errors fail too, as in every target.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/twelvelabs/json_mapping.h"
#include "tests/support/task_json_reference.h"

namespace {

using google::protobuf::util::MessageDifferencer;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "json_mapping invariant failed: %s\n", what.c_str());
  std::abort();
}

void CompareTask(absl::string_view body, tlgw::ApiVersion v) {
  auto got = tlgw::ParseTask(body, v);
  auto want = tlgw::reference::ParseTask(body, v);
  if (got.status() != want.status()) {
    Fail("ParseTask status: new " + got.status().ToString() + " / reference " + want.status().ToString());
  }
  if (got.ok() && !MessageDifferencer::Equals(*got, *want)) {
    Fail("ParseTask task: new {" + got->ShortDebugString() + "} / reference {" + want->ShortDebugString() + "}");
  }
}

void ComparePage(absl::string_view body, tlgw::ApiVersion v) {
  auto got = tlgw::ParseTaskPage(body, v);
  auto want = tlgw::reference::ParseTaskPage(body, v);
  if (got.status() != want.status()) {
    Fail("ParseTaskPage status: new " + got.status().ToString() + " / reference " +
         want.status().ToString());
  }
  if (got.ok() && (!MessageDifferencer::Equals(got->tasks, want->tasks) || got->page != want->page ||
                   got->total_pages != want->total_pages)) {
    Fail("ParseTaskPage page: new {" + got->tasks.ShortDebugString() + "} / reference {" +
         want->tasks.ShortDebugString() + "}");
  }
}

void CompareTime(absl::string_view text) {
  auto got = tlgw::ParseRfc3339(text);
  auto want = tlgw::reference::ParseRfc3339(text);
  if (got.status() != want.status()) {
    Fail("ParseRfc3339 status: new " + got.status().ToString() + " / reference " +
         want.status().ToString());
  }
  if (!got.ok()) return;
  if (!MessageDifferencer::Equals(*got, *want)) {
    Fail("ParseRfc3339: new {" + got->ShortDebugString() + "} / reference {" + want->ShortDebugString() + "}");
  }
  if (got->nanos() < 0 || got->nanos() > 999999999) Fail("ParseRfc3339 nanos out of range");
  // Both parsers clamp a time outside int64 nanoseconds (before 1677-09-21
  // or after 2262-04-11, e.g. year 210) to that range's end, as the old one
  // always did; a clamped end need not survive a millisecond round trip.
  constexpr int64_t kMinClampedSeconds = -9223372037, kMaxClampedSeconds = 9223372036;
  if (got->seconds() <= kMinClampedSeconds || got->seconds() >= kMaxClampedSeconds) return;
  const std::string formatted = tlgw::FormatRfc3339(*got);
  auto again = tlgw::ParseRfc3339(formatted);
  if (!again.ok()) Fail("FormatRfc3339 output '" + formatted + "' does not parse: " + again.status().ToString());
  if (again->seconds() != got->seconds() || again->nanos() != got->nanos() / 1000000 * 1000000) {
    Fail("FormatRfc3339 round trip: {" + got->ShortDebugString() + "} -> '" + formatted + "' -> {" +
         again->ShortDebugString() + "}");
  }
}

template <typename T>
void NotOkCoded(const absl::StatusOr<T>& r, const char* what) {
  // StatusOr cannot hold OK without a value; this documents the contract
  // and keeps the result used.
  if (!r.ok() && r.status().code() == absl::StatusCode::kOk) Fail(what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  for (tlgw::ApiVersion v : {tlgw::ApiVersion::kV1_2, tlgw::ApiVersion::kV1_3}) {
    CompareTask(body, v);
    ComparePage(body, v);
  }
  if (size <= 64) CompareTime(body);
  NotOkCoded(tlgw::ParseCreatedTask(body), "ParseCreatedTask");
  NotOkCoded(tlgw::ParseIndexTaskCounts(body), "ParseIndexTaskCounts");
  NotOkCoded(tlgw::ParseImportVideos(body), "ParseImportVideos");
  NotOkCoded(tlgw::ParseImportStatus(body), "ParseImportStatus");
  NotOkCoded(tlgw::ParseImportLogs(body), "ParseImportLogs");
  return 0;
}
