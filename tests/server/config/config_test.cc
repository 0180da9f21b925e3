#include "server/config/config.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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

TEST(ParseConfig, SoleUserOfAccountIsAnOptionalBooleanDefaultingToFalse) {
  auto c = ParseConfig(R"({"tenants":[
    {"name":"media","api_keys":[{"env":"TL_MEDIA"}],"sole_user_of_account":true},
    {"name":"news","api_keys":[{"env":"TL_NEWS"}],"sole_user_of_account":false},
    {"name":"ops","api_keys":[{"env":"TL_OPS"}]}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->tenants.size(), 3u);
  EXPECT_TRUE(c->tenants[0].sole_user_of_account);
  EXPECT_FALSE(c->tenants[1].sole_user_of_account);
  EXPECT_FALSE(c->tenants[2].sole_user_of_account) << "a tenant is not a sole user unless declared";

  for (const char* bad : {R"("yes")", "1", "null", "[true]"}) {
    auto parsed = ParseConfig(absl::StrCat(R"({"tenants":[{"name":"media","api_keys":[{"env":"TL_MEDIA"}],)",
                                           R"("sole_user_of_account":)", bad, "}]}"));
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(parsed.status().message(), "config tenants[0].sole_user_of_account: must be true or false"))
        << parsed.status();
  }
}

TEST(ResolveKeys, ASoleUserSharingAKeyWithAnotherTenantIsRefused) {
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "TL_SHARED" || name == "TL_SHARED_COPY") return std::string("tlk_shared");
    if (name == "TL_OLD") return std::string("tlk_old");
    return "tlk_" + name;
  };
  // news's second (older) key is media's: they share an account's key.
  auto c = ParseConfig(R"({"tenants":[
    {"name":"media","api_keys":[{"env":"TL_MEDIA"},{"env":"TL_OLD"}],"sole_user_of_account":true},
    {"name":"news","api_keys":[{"env":"TL_NEWS"},{"env":"TL_OLD"}]}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Status s = ResolveKeys(&*c, env);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StartsWith(s.message(), "config tenants[0].sole_user_of_account: ")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "'news'")) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "tlk_")) << "a key reached the message: " << s;

  // Two variables holding the same key are the same key.
  c = ParseConfig(R"({"tenants":[
    {"name":"media","api_keys":[{"env":"TL_SHARED"}]},
    {"name":"news","api_keys":[{"env":"TL_SHARED_COPY"}],"sole_user_of_account":true}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  s = ResolveKeys(&*c, env);
  EXPECT_TRUE(absl::StartsWith(s.message(), "config tenants[1].sole_user_of_account: ")) << s;

  // Sharing a key without the declaration is allowed (the gateway keeps
  // the tenants apart by its ownership records), and so is a declared sole
  // user with keys of its own.
  c = ParseConfig(R"({"tenants":[
    {"name":"media","api_keys":[{"env":"TL_SHARED"}]},
    {"name":"news","api_keys":[{"env":"TL_SHARED_COPY"}]},
    {"name":"ops","api_keys":[{"env":"TL_OPS"}],"sole_user_of_account":true}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  s = ResolveKeys(&*c, env);
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace tlgw
