#include "server/config/config.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"

#include "absl/strings/str_cat.h"
#include "server/common/ids.h"
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

absl::Status ReadStringList(const json& obj, const std::string& path, const char* key,
                            std::vector<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return absl::OkStatus();
  std::string full = absl::StrCat(path, ".", key);
  if (!it->is_array()) return FieldProblem(full, "must be an array of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string() || (*it)[i].get<std::string>().empty()) {
      return FieldProblem(absl::StrCat(full, "[", i, "]"), "must be a non-empty string");
    }
    out->push_back((*it)[i].get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ParseTenants(const json& root, GatewayConfig* config) {
  auto it = root.find("tenants");
  if (it == root.end()) return absl::OkStatus();
  if (!it->is_array()) return FieldProblem("tenants", "must be an array");
  std::set<std::string> names;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    std::string path = absl::StrCat("tenants[", i, "]");
    if (!item.is_object()) return FieldProblem(path, "must be an object");
    if (auto s = CheckKeys(item, path, {"name", "api_keys", "sole_user_of_account"}); !s.ok()) return s;
    TenantConfig t;
    if (auto s = ReadString(item, path, "name", true, &t.name); !s.ok()) return s;
    if (auto sole = item.find("sole_user_of_account"); sole != item.end()) {
      if (!sole->is_boolean()) {
        return FieldProblem(path + ".sole_user_of_account",
                            absl::StrCat("must be true or false, not ", sole->type_name()));
      }
      t.sole_user_of_account = sole->get<bool>();
    }
    if (!names.insert(t.name).second) return FieldProblem(path + ".name", "is used twice");
    auto keys = item.find("api_keys");
    if (keys == item.end() || !keys->is_array() || keys->empty()) {
      return FieldProblem(path + ".api_keys",
                          "must list at least one key as {\"env\": \"VAR\"} or {\"file\": \"/path\"} "
                          "(keys are never written in this file)");
    }
    for (size_t k = 0; k < keys->size(); ++k) {
      const json& ref = (*keys)[k];
      std::string kpath = absl::StrCat(path, ".api_keys[", k, "]");
      if (!ref.is_object()) {
        return FieldProblem(kpath, "must be {\"env\": \"VAR\"} or {\"file\": \"/path\"}; a key itself "
                                   "never belongs in the config file");
      }
      if (auto s = CheckKeys(ref, kpath, {"env", "file"}); !s.ok()) return s;
      KeyRef r;
      if (auto s = ReadString(ref, kpath, "env", false, &r.env); !s.ok()) return s;
      if (auto s = ReadString(ref, kpath, "file", false, &r.file); !s.ok()) return s;
      if (r.env.empty() == r.file.empty()) return FieldProblem(kpath, "needs exactly one of env or file");
      t.api_keys.push_back(std::move(r));
    }
    config->tenants.push_back(std::move(t));
  }
  return absl::OkStatus();
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status ParseClients(const json& root, GatewayConfig* config) {
  auto it = root.find("clients");
  if (it == root.end()) return absl::OkStatus();
  if (!it->is_array()) return FieldProblem("clients", "must be an array");
  std::set<std::string> ids, hashes;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    std::string path = absl::StrCat("clients[", i, "]");
    if (!item.is_object()) return FieldProblem(path, "must be an object");
    if (auto s = CheckKeys(item, path, {"id", "token_sha256", "tenant", "methods", "indexes", "integrations",
                                        "rate_limit", "certificate_name"});
        !s.ok()) {
      return s;
    }
    ClientConfig c;
    if (auto s = ReadString(item, path, "id", true, &c.id); !s.ok()) return s;
    if (!ids.insert(c.id).second) return FieldProblem(path + ".id", "is used twice");
    if (auto s = ReadString(item, path, "token_sha256", false, &c.token_sha256); !s.ok()) return s;
    if (auto s = ReadString(item, path, "certificate_name", false, &c.certificate_name); !s.ok()) return s;
    if (item.contains("token")) {
      return FieldProblem(path + ".token", "tokens never go in the config file; store token_sha256");
    }
    if (c.token_sha256.empty() && c.certificate_name.empty()) {
      return FieldProblem(path + ".token_sha256",
                          "is required (the SHA-256 of the client's token, from `gateway hash-token`) "
                          "unless certificate_name identifies the client");
    }
    if (!c.token_sha256.empty()) {
      if (!IsHex64(c.token_sha256)) {
        return FieldProblem(path + ".token_sha256", "must be 64 lowercase hex characters (a SHA-256)");
      }
      if (!hashes.insert(c.token_sha256).second) {
        return FieldProblem(path + ".token_sha256", "is the same as another client's");
      }
    }
    if (auto s = ReadString(item, path, "tenant", true, &c.tenant); !s.ok()) return s;
    if (FindTenant(*config, c.tenant) == nullptr) {
      return FieldProblem(path + ".tenant", absl::StrCat("names no tenant ('", c.tenant, "')"));
    }
    if (auto s = ReadStringList(item, path, "methods", &c.methods); !s.ok()) return s;
    if (c.methods.empty()) {
      return FieldProblem(path + ".methods", "must list what the client may call, e.g. [\"TaskService.*\"] or [\"*\"]");
    }
    if (auto s = ReadStringList(item, path, "indexes", &c.indexes); !s.ok()) return s;
    for (size_t k = 0; k < c.indexes.size(); ++k) {
      if (!IsResourceId(c.indexes[k])) {
        return FieldProblem(absl::StrCat(path, ".indexes[", k, "]"), "must be a 24-character hex index id");
      }
    }
    if (auto s = ReadStringList(item, path, "integrations", &c.integrations); !s.ok()) return s;
    if (auto rl = item.find("rate_limit"); rl != item.end()) {
      std::string rpath = path + ".rate_limit";
      if (!rl->is_object()) return FieldProblem(rpath, "must be an object");
      if (auto s = CheckKeys(*rl, rpath, {"requests_per_second", "burst"}); !s.ok()) return s;
      for (auto [key, out] : {std::make_pair("requests_per_second", &c.rate_limit.requests_per_second),
                              std::make_pair("burst", &c.rate_limit.burst)}) {
        auto v = rl->find(key);
        if (v == rl->end()) continue;
        if (!v->is_number() || v->get<double>() < 0) {
          return FieldProblem(absl::StrCat(rpath, ".", key), "must be a number >= 0");
        }
        *out = v->get<double>();
      }
    }
    config->clients.push_back(std::move(c));
  }
  if (!config->clients.empty() && config->tenants.empty()) {
    return FieldProblem("tenants", "is required when clients are configured");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GatewayConfig> ParseConfig(absl::string_view json_text) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (root.is_discarded()) return absl::InvalidArgumentError("config: not valid JSON");
  if (!root.is_object()) return absl::InvalidArgumentError("config: the top level must be an object");
  GatewayConfig config;
  if (auto s = CheckKeys(root, "", {"upstream_url", "integrations", "tenants", "clients"}); !s.ok()) {
    return s;
  }
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
      if (!IsResourceId(ic.integration_id)) {
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
  if (auto s = ParseTenants(root, &config); !s.ok()) return s;
  if (auto s = ParseClients(root, &config); !s.ok()) return s;
  for (size_t i = 0; i < config.integrations.size(); ++i) {
    const auto& ic = config.integrations[i];
    if (!config.tenants.empty() && ic.tenant != "default" && FindTenant(config, ic.tenant) == nullptr) {
      return FieldProblem(absl::StrCat("integrations[", i, "].tenant"),
                          absl::StrCat("names no tenant ('", ic.tenant, "')"));
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

const TenantConfig* FindTenant(const GatewayConfig& config, absl::string_view name) {
  for (const auto& t : config.tenants) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::Status ResolveKeys(GatewayConfig* config, const EnvLookup& getenv) {
  for (size_t i = 0; i < config->tenants.size(); ++i) {
    TenantConfig& t = config->tenants[i];
    t.resolved_keys.clear();
    std::string problems;
    for (size_t k = 0; k < t.api_keys.size(); ++k) {
      const KeyRef& r = t.api_keys[k];
      std::string key;
      if (!r.env.empty()) {
        if (auto v = getenv(r.env)) key = std::string(absl::StripAsciiWhitespace(*v));
        if (key.empty()) absl::StrAppend(&problems, " api_keys[", k, "]: variable ", r.env, " is not set;");
      } else {
        std::ifstream in(r.file);
        std::stringstream ss;
        if (in) ss << in.rdbuf();
        key = std::string(absl::StripAsciiWhitespace(ss.str()));
        if (key.empty()) absl::StrAppend(&problems, " api_keys[", k, "]: file ", r.file, " is missing or empty;");
      }
      if (!key.empty()) t.resolved_keys.push_back(std::move(key));
    }
    if (t.resolved_keys.empty()) {
      return FieldProblem(absl::StrCat("tenants[", i, "].api_keys"), absl::StrCat("no key could be read:", problems));
    }
  }
  // A declared sole user sharing a key with another tenant is plainly not
  // the sole user: every unrecorded task would be shown to it.
  for (size_t i = 0; i < config->tenants.size(); ++i) {
    const TenantConfig& t = config->tenants[i];
    if (!t.sole_user_of_account) continue;
    for (size_t j = 0; j < config->tenants.size(); ++j) {
      if (j == i) continue;
      const auto& theirs = config->tenants[j].resolved_keys;
      for (const auto& key : t.resolved_keys) {
        if (std::find(theirs.begin(), theirs.end(), key) != theirs.end()) {
          return FieldProblem(absl::StrCat("tenants[", i, "].sole_user_of_account"),
                              absl::StrCat("tenant '", t.name, "' shares a Twelve Labs key with tenant '",
                                           config->tenants[j].name,
                                           "', so it is not the only user of its account; remove the "
                                           "declaration or give each tenant its own key"));
        }
      }
    }
  }
  return absl::OkStatus();
}

const IntegrationConfig* FindIntegration(const GatewayConfig& config, absl::string_view name_or_id) {
  for (const auto& ic : config.integrations) {
    if (ic.name == name_or_id || ic.integration_id == name_or_id) return &ic;
  }
  return nullptr;
}

}  // namespace tlgw
