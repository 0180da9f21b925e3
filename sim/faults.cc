#include "sim/faults.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tlsim {
namespace {

using nlohmann::json;

constexpr std::pair<FaultKind, const char*> kKindNames[] = {
    {FaultKind::kStatus, "status"},
    {FaultKind::kLatency, "latency"},
    {FaultKind::kReset, "reset"},
    {FaultKind::kMalformedJson, "malformed_json"},
    {FaultKind::kTruncatedJson, "truncated_json"},
    {FaultKind::kRateLimit, "rate_limit"},
    {FaultKind::kWrongType, "wrong_type"},
    {FaultKind::kEarlyStatus, "early_status"},
    {FaultKind::kLateAnswer, "late_answer"},
};

const char* KindName(FaultKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "status";
}

// Reads an optional integer member into `out`.
absl::Status ReadInt(const json& spec, const char* name, int* out) {
  auto it = spec.find(name);
  if (it == spec.end()) return absl::OkStatus();
  if (!it->is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be an integer"));
  }
  *out = it->get<int>();
  return absl::OkStatus();
}

}  // namespace

json Fault::ToJson() const {
  json j = {{"id", id},
            {"method", method},
            {"path_regex", path_regex},
            {"kind", KindName(kind)},
            {"status", status},
            {"latency_ms", latency_ms},
            {"retry_after_seconds", retry_after_seconds},
            {"count", count}};
  if (send_retry_after.has_value()) j["send_retry_after"] = *send_retry_after;
  if (body.has_value()) j["body"] = *body;
  if (!headers.empty()) {
    j["headers"] = json::object();
    for (const auto& [name, value] : headers) j["headers"][name] = value;
  }
  return j;
}

absl::StatusOr<int> FaultList::Add(const json& spec) {
  if (!spec.is_object()) {
    return absl::InvalidArgumentError("the body must be a JSON object");
  }
  for (const auto& item : spec.items()) {
    static constexpr const char* kKnown[] = {
        "method",           "path_regex", "kind", "status", "latency_ms", "retry_after_seconds",
        "send_retry_after", "count", "body", "headers"};
    if (std::find(std::begin(kKnown), std::end(kKnown), item.key()) == std::end(kKnown)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown field ", item.key()));
    }
  }
  Fault f;
  auto kind = spec.find("kind");
  if (kind == spec.end() || !kind->is_string()) {
    return absl::InvalidArgumentError("kind is required");
  }
  bool known_kind = false;
  for (const auto& [k, name] : kKindNames) {
    if (kind->get<std::string>() == name) {
      f.kind = k;
      known_kind = true;
    }
  }
  if (!known_kind) {
    return absl::InvalidArgumentError(absl::StrCat("unknown kind ", kind->get<std::string>()));
  }
  switch (f.kind) {
    case FaultKind::kMalformedJson:
    case FaultKind::kTruncatedJson:
    case FaultKind::kWrongType:
      f.status = 200;
      break;
    case FaultKind::kRateLimit:
      f.status = 429;
      f.retry_after_seconds = 1;
      break;
    default:
      break;
  }
  if (auto it = spec.find("method"); it != spec.end()) {
    if (!it->is_string() || it->get<std::string>().empty()) {
      return absl::InvalidArgumentError("method must be a non-empty string");
    }
    f.method = absl::AsciiStrToUpper(it->get<std::string>());
  }
  if (auto it = spec.find("path_regex"); it != spec.end()) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError("path_regex must be a string");
    }
    f.path_regex = it->get<std::string>();
  }
  try {
    f.regex = std::make_shared<const std::regex>(f.path_regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("path_regex does not compile: ", e.what()));
  }
  if (auto s = ReadInt(spec, "status", &f.status); !s.ok()) return s;
  if (auto s = ReadInt(spec, "latency_ms", &f.latency_ms); !s.ok()) return s;
  if (auto s = ReadInt(spec, "retry_after_seconds", &f.retry_after_seconds); !s.ok()) {
    return s;
  }
  if (auto s = ReadInt(spec, "count", &f.count); !s.ok()) return s;
  if (auto it = spec.find("send_retry_after"); it != spec.end()) {
    if (!it->is_boolean()) {
      return absl::InvalidArgumentError("send_retry_after must be a boolean");
    }
    f.send_retry_after = it->get<bool>();
  }
  if (auto it = spec.find("body"); it != spec.end()) {
    if (!it->is_string()) return absl::InvalidArgumentError("body must be a string");
    f.body = it->get<std::string>();
  }
  if (auto it = spec.find("headers"); it != spec.end()) {
    if (!it->is_object()) return absl::InvalidArgumentError("headers must be an object of strings");
    for (const auto& h : it->items()) {
      if (!h.value().is_string()) return absl::InvalidArgumentError("headers must be an object of strings");
      f.headers.emplace_back(h.key(), h.value().get<std::string>());
    }
  }
  if ((f.body.has_value() || !f.headers.empty()) && f.kind != FaultKind::kStatus) {
    return absl::InvalidArgumentError("body and headers go only with kind status");
  }
  if (f.status < 100 || f.status > 599) {
    return absl::InvalidArgumentError("status must be 100..599");
  }
  if (f.latency_ms < 0 || f.latency_ms > 600000) {
    return absl::InvalidArgumentError("latency_ms must be 0..600000");
  }
  if (f.count == 0 || f.count < -1) {
    return absl::InvalidArgumentError("count must be -1 or at least 1");
  }
  if (f.kind == FaultKind::kRateLimit && f.retry_after_seconds < 0) {
    return absl::InvalidArgumentError("retry_after_seconds must be >= 0");
  }
  f.id = next_id_++;
  faults_.push_back(std::move(f));
  return faults_.back().id;
}

std::optional<Fault> FaultList::Take(absl::string_view method, const std::string& path) {
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->method != "*" && !absl::EqualsIgnoreCase(it->method, method)) {
      continue;
    }
    if (!std::regex_search(path, *it->regex)) continue;
    Fault taken = *it;
    if (it->count > 0 && --it->count == 0) faults_.erase(it);
    return taken;
  }
  return std::nullopt;
}

bool FaultList::Remove(int id) {
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->id == id) {
      faults_.erase(it);
      return true;
    }
  }
  return false;
}

json FaultList::ToJson() const {
  json list = json::array();
  for (const Fault& f : faults_) list.push_back(f.ToJson());
  return list;
}

}  // namespace tlsim
