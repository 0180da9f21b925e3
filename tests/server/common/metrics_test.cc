// Metric labels come from known sets, whatever callers send.
#include "server/common/metrics.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/log.h"

namespace tlgw {
namespace {

bool OnlyGetTask(absl::string_view m) { return m == "/twelvelabs.gateway.v1.TaskService/GetTask"; }

TEST(RequestMetrics, UnknownMethodsShareOneLabelAndTheTextStaysSmall) {
  RequestMetrics metrics(&OnlyGetTask);
  metrics.RecordGrpc("/twelvelabs.gateway.v1.TaskService/GetTask", 0, absl::Milliseconds(2));
  std::string before;
  metrics.RecordGrpc("/forged.Service/Method0", 12, absl::Milliseconds(1));
  metrics.Render(&before);
  for (int i = 1; i < 5000; ++i) {
    metrics.RecordGrpc(absl::StrCat("/forged.Service/", std::string(200, 'x'), i), 12, absl::Milliseconds(1));
  }
  std::string after;
  metrics.Render(&after);
  EXPECT_TRUE(absl::StrContains(after, "method=\"/twelvelabs.gateway.v1.TaskService/GetTask\""));
  EXPECT_TRUE(absl::StrContains(after, "method=\"unknown\""));
  EXPECT_FALSE(absl::StrContains(after, "forged"));
  EXPECT_LE(after.size(), before.size() + 64) << "the text grew with the names sent";
}

TEST(RequestMetrics, WithoutAPredicateEveryMethodIsUnknown) {
  RequestMetrics metrics;
  metrics.RecordGrpc("/twelvelabs.gateway.v1.TaskService/GetTask", 0, absl::Milliseconds(2));
  std::string text;
  metrics.Render(&text);
  EXPECT_TRUE(absl::StrContains(text, "method=\"unknown\""));
}

TEST(BoundedLogValue, CutsWithAVisibleMarker) {
  EXPECT_EQ(BoundedLogValue("short"), "short");
  std::string big(100000, 'a');
  std::string cut = BoundedLogValue(big);
  EXPECT_LE(cut.size(), kMaxLogValueBytes + 40);
  EXPECT_TRUE(absl::EndsWith(cut, absl::StrCat("[truncated ", 100000 - kMaxLogValueBytes, " bytes]")));
  EXPECT_EQ(BoundedLogValue(std::string(kMaxLogValueBytes, 'b')).size(), kMaxLogValueBytes);
}

}  // namespace
}  // namespace tlgw
