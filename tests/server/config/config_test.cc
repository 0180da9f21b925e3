#include "server/config/config.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace tlgw {
namespace {

TEST(ParseConfig, Integrations) {
  auto c = ParseConfig(R"({"upstream_url":"https://api.twelvelabs.io/v1.3","integrations":[
    {"name":"marketing","integration_id":"0123456789abcdef89abcdef","bucket":"acme","region":"us-west-2"}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->upstream_url, "https://api.twelvelabs.io/v1.3");
  ASSERT_EQ(c->integrations.size(), 1u);
  EXPECT_EQ(c->integrations[0].tenant, "default");
  EXPECT_NE(FindIntegration(*c, "marketing"), nullptr);
  EXPECT_NE(FindIntegration(*c, "0123456789abcdef89abcdef"), nullptr);
  EXPECT_EQ(FindIntegration(*c, "sales"), nullptr);
}

TEST(ParseConfig, ErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* field;
  } cases[] = {
      {"{", "not valid JSON"},
      {"[]", "top level"},
      {R"({"integratons":[]})", "integratons"},
      {R"({"integrations":{}})", "integrations"},
      {R"({"integrations":[{"integration_id":"0123456789abcdef89abcdef"}]})", "integrations[0].name"},
      {R"({"integrations":[{"name":"a","integration_id":"xyz"}]})", "integrations[0].integration_id"},
      {R"({"integrations":[{"name":"a","integration_id":"0123456789abcdef89abcdef","region":5}]})",
       "integrations[0].region"},
      {R"({"integrations":[{"name":"a","integration_id":"0123456789abcdef89abcdef"},
                           {"name":"a","integration_id":"0123456789abcdef89abcde0"}]})",
       "integrations[1].name"},
      {R"({"integrations":[{"name":"a","integration_id":"0123456789abcdef89abcdef","colour":"red"}]})",
       "integrations[0].colour"},
  };
  for (const auto& c : cases) {
    auto parsed = ParseConfig(c.json);
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), c.field)) << parsed.status();
  }
}

}  // namespace
}  // namespace tlgw
