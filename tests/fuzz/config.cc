// Fuzzes the configuration file parser (ParseConfig in
// server/config/config.h) with the input as the file's text.
//
// Asserts (abort() on failure):
// - a refusal is INVALID_ARGUMENT with a message starting "config";
// - an accepted config holds what the validation promises: integrations
//   with 24-hex ids, unique names and ids, findable by either, and a tenant
//   that exists when tenants are configured; tenants with unique names and
//   1+ key references, each exactly one of env or file; clients with unique
//   ids, a known tenant, some methods, a token hash of 64 lowercase hex or
//   a certificate name, index ids of 24 hex, rate limits >= 0; no clients
//   without tenants;
// - ResolveKeys (when every key is an environment variable; files are not
//   read) fills resolved_keys or names a tenant.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "server/common/ids.h"
#include "server/config/config.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "config invariant failed: %s\n", what);
    std::abort();
  }
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = tlgw::ParseConfig(text);
  if (!config.ok()) {
    Check(config.status().code() == absl::StatusCode::kInvalidArgument, "a refusal is INVALID_ARGUMENT");
    Check(absl::StartsWith(config.status().message(), "config"), "a refusal names the config");
    return 0;
  }
  const tlgw::GatewayConfig& c = *config;
  std::set<std::string> names, ids;
  for (const auto& ic : c.integrations) {
    Check(!ic.name.empty(), "integration name");
    Check(tlgw::IsResourceId(ic.integration_id), "integration id is 24 hex");
    Check(names.insert(ic.name).second && ids.insert(ic.integration_id).second, "unique integrations");
    Check(!ic.tenant.empty(), "integration tenant set");
    Check(tlgw::FindIntegration(c, ic.integration_id) != nullptr, "integration found by id");
    const tlgw::IntegrationConfig* by_name = tlgw::FindIntegration(c, ic.name);
    Check(by_name != nullptr, "integration found by name");
    if (!c.tenants.empty() && ic.tenant != "default") {
      Check(tlgw::FindTenant(c, ic.tenant) != nullptr, "integration tenant exists");
    }
  }
  std::set<std::string> tenants;
  bool only_env = true;
  for (const auto& t : c.tenants) {
    Check(!t.name.empty() && tenants.insert(t.name).second, "unique tenant names");
    Check(!t.api_keys.empty(), "a tenant has keys");
    for (const auto& k : t.api_keys) {
      Check(k.env.empty() != k.file.empty(), "a key is env or file");
      only_env &= k.file.empty();
    }
    Check(t.resolved_keys.empty(), "keys are not resolved by parsing");
  }
  std::set<std::string> clients, hashes;
  for (const auto& cl : c.clients) {
    Check(!cl.id.empty() && clients.insert(cl.id).second, "unique client ids");
    Check(tlgw::FindTenant(c, cl.tenant) != nullptr, "client tenant exists");
    Check(!cl.methods.empty(), "client methods");
    for (const auto& m : cl.methods) Check(!m.empty(), "no empty method");
    Check(!cl.token_sha256.empty() || !cl.certificate_name.empty(), "a client is identifiable");
    if (!cl.token_sha256.empty()) {
      Check(IsHex64(cl.token_sha256), "token hash is 64 lowercase hex");
      Check(hashes.insert(cl.token_sha256).second, "unique token hashes");
    }
    for (const auto& i : cl.indexes) Check(tlgw::IsResourceId(i), "client index ids");
    for (const auto& i : cl.integrations) Check(!i.empty(), "no empty integration");
    Check(cl.rate_limit.requests_per_second >= 0 && cl.rate_limit.burst >= 0, "rate limits >= 0");
  }
  Check(c.clients.empty() || !c.tenants.empty(), "clients need tenants");

  if (only_env) {
    tlgw::GatewayConfig copy = c;
    auto s = tlgw::ResolveKeys(&copy, [](const std::string& name) -> std::optional<std::string> {
      if (absl::StartsWith(name, "TL_")) return "  key-" + name + "\n";
      return std::nullopt;
    });
    if (s.ok()) {
      for (const auto& t : copy.tenants) Check(!t.resolved_keys.empty(), "a resolved tenant has a key");
    } else {
      Check(absl::StartsWith(s.message(), "config tenants["), "an unresolved tenant is named");
    }
  }
  return 0;
}
