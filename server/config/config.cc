#include "server/config/config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "server/services/validation.h"
#include <nlohmann/json.hpp>

namespace tlgw {
namespace {

using nlohmann::json;

absl::Status FieldProblem(const std::string& path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("config ", path, ": ", problem));
}

absl::Status CheckKeys(const json& obj, const std::string& path, const std::set<std::string>& known) {
  for (const auto& [key, value] : obj.items()) {
    if (known.count(key) == 0) {
      std::string list;
      for (const auto& k : known) absl::StrAppend(&list, list.empty() ? "" : ", ", k);
      return FieldProblem(absl::StrCat(path, path.empty() ? "" : ".", key),
                          absl::StrCat("unknown field; known fields here: ", list));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadString(const json& obj, const std::string& path, const char* key, bool required,
                        std::string* out) {
  auto it = obj.find(key);
  std::string full = absl::StrCat(path, path.empty() ? "" : ".", key);
  if (it == obj.end()) {
    return required ? FieldProblem(full, "is required") : absl::OkStatus();
  }
  if (!it->is_string()) return FieldProblem(full, absl::StrCat("must be a string, not ", it->type_name()));
  *out = it->get<std::string>();
  if (required && out->empty()) return FieldProblem(full, "must not be empty");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GatewayConfig> ParseConfig(absl::string_view json_text) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (root.is_discarded()) return absl::InvalidArgumentError("config: not valid JSON");
  if (!root.is_object()) return absl::InvalidArgumentError("config: the top level must be an object");
  GatewayConfig config;
  if (auto s = CheckKeys(root, "", {"upstream_url", "integrations"}); !s.ok()) return s;
  if (auto s = ReadString(root, "", "upstream_url", false, &config.upstream_url); !s.ok()) return s;
  if (auto it = root.find("integrations"); it != root.end()) {
    if (!it->is_array()) return FieldProblem("integrations", "must be an array");
    std::set<std::string> names, ids;
    for (size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      std::string path = absl::StrCat("integrations[", i, "]");
      if (!item.is_object()) return FieldProblem(path, "must be an object");
      if (auto s = CheckKeys(item, path, {"name", "integration_id", "bucket", "region", "tenant"});
          !s.ok()) {
        return s;
      }
      IntegrationConfig ic;
      for (auto [key, required, out] :
           {std::make_tuple("name", true, &ic.name),
            std::make_tuple("integration_id", true, &ic.integration_id),
            std::make_tuple("bucket", false, &ic.bucket), std::make_tuple("region", false, &ic.region),
            std::make_tuple("tenant", false, &ic.tenant)}) {
        if (auto s = ReadString(item, path, key, required, out); !s.ok()) return s;
      }
      if (ic.tenant.empty()) ic.tenant = "default";
      if (!ValidateId("integration_id", ic.integration_id).ok()) {
        return FieldProblem(path + ".integration_id",
                            "must be the 24-character hex id shown on the Twelve Labs Integrations page");
      }
      if (!names.insert(ic.name).second) return FieldProblem(path + ".name", "is used twice");
      if (!ids.insert(ic.integration_id).second) {
        return FieldProblem(path + ".integration_id", "is used twice");
      }
      config.integrations.push_back(std::move(ic));
    }
  }
  return config;
}

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--config: cannot read '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str());
}

const IntegrationConfig* FindIntegration(const GatewayConfig& config, absl::string_view name_or_id) {
  for (const auto& ic : config.integrations) {
    if (ic.name == name_or_id || ic.integration_id == name_or_id) return &ic;
  }
  return nullptr;
}

}  // namespace tlgw
