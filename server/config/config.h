// The gateway's configuration file (JSON), parsed and validated.
//
// Invalid configuration is an INVALID_ARGUMENT whose message starts with the
// path of the offending field (e.g. "integrations[1].region: ..."), so an
// operator knows what to fix. Unknown fields are errors too: a misspelt
// field silently ignored is worse than a refusal to start.
#ifndef TL_GATEWAY_SERVER_CONFIG_CONFIG_H_
#define TL_GATEWAY_SERVER_CONFIG_CONFIG_H_

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

struct GatewayConfig {
  // Overrides --upstream_url when set.
  std::string upstream_url;
  std::vector<IntegrationConfig> integrations;
};

absl::StatusOr<GatewayConfig> ParseConfig(absl::string_view json_text);
absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path);

// The integration whose name or id is `name_or_id`, or nullptr.
const IntegrationConfig* FindIntegration(const GatewayConfig& config, absl::string_view name_or_id);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_CONFIG_CONFIG_H_
