// The gateway's configuration file (JSON), parsed and validated.
//
// Invalid configuration is an INVALID_ARGUMENT whose message starts with the
// path of the offending field (e.g. "integrations[1].region: ..."), so an
// operator knows what to fix. Unknown fields are errors too: a misspelt
// field silently ignored is worse than a refusal to start.
#ifndef TL_GATEWAY_SERVER_CONFIG_CONFIG_H_
#define TL_GATEWAY_SERVER_CONFIG_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tlgw {

// An S3 integration set up in the Twelve Labs dashboard.
struct IntegrationConfig {
  std::string name;            // what callers pass; unique
  std::string integration_id;  // the Twelve Labs id (24 hex)
  std::string bucket;
  std::string region;
  std::string tenant = "default";
};

// Where a Twelve Labs key is read from: never the config file itself.
struct KeyRef {
  std::string env;   // an environment variable's name, or
  std::string file;  // a file whose content (trimmed) is the key
};

// An owner of Twelve Labs keys. The first key that resolves is used; list
// the new key first and keep the old one during a rotation.
struct TenantConfig {
  std::string name;
  std::vector<KeyRef> api_keys;
  // The operator declares that no one but this tenant uses its Twelve Labs
  // account (with any key): tasks the gateway has no record of are then
  // this tenant's, and GetIndexTaskCounts may show the account's counts.
  // The gateway cannot check it (keys of one account look unrelated), so
  // it is false unless declared.
  bool sole_user_of_account = false;
  std::vector<std::string> resolved_keys;  // filled by ResolveKeys; never logged
};

// A per-client token bucket.
struct RateLimit {
  double requests_per_second = 0;  // 0 = unlimited
  double burst = 0;                // 0 = max(1, requests_per_second)
};

// An internal service calling the gateway.
struct ClientConfig {
  std::string id;
  std::string token_sha256;  // lowercase hex SHA-256 of its bearer token
  std::string tenant;
  // "Service.Method", "Service.*" or "*"; Service without the package.
  std::vector<std::string> methods;
  std::vector<std::string> indexes;       // empty = any
  std::vector<std::string> integrations;  // names or ids; empty = any
  RateLimit rate_limit;
  // With mutual TLS: the client certificate's subject common name or a
  // SAN that identifies this client without a bearer token.
  std::string certificate_name;
};

struct GatewayConfig {
  // Overrides --upstream_url when set.
  std::string upstream_url;
  std::vector<IntegrationConfig> integrations;
  std::vector<TenantConfig> tenants;
  std::vector<ClientConfig> clients;
};

absl::StatusOr<GatewayConfig> ParseConfig(absl::string_view json_text);
absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path);

// Reads every tenant's keys (environment through `getenv`, files from
// disk) into resolved_keys. A tenant none of whose keys resolves is an
// error naming the field, and so is a tenant declared sole_user_of_account
// that shares a key with another tenant.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
absl::Status ResolveKeys(GatewayConfig* config, const EnvLookup& getenv);

// The tenant named `name`, or nullptr.
const TenantConfig* FindTenant(const GatewayConfig& config, absl::string_view name);

// The integration whose name or id is `name_or_id`, or nullptr.
const IntegrationConfig* FindIntegration(const GatewayConfig& config, absl::string_view name_or_id);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_CONFIG_CONFIG_H_
