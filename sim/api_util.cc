#include "sim/api_util.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tlsim {

using nlohmann::json;

ApiResponse JsonResponse(int status, json body) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

ApiResponse EmptyResponse(int status) {
  ApiResponse r;
  r.status = status;
  return r;
}

ApiResponse Error(int status, absl::string_view code, absl::string_view message) {
  return JsonResponse(status, ErrorBody(code, message));
}

ApiResponse Invalid(absl::string_view name, absl::string_view why) {
  return Error(
      400, "parameter_invalid",
      absl::StrCat("The ", name, " parameter is invalid", why.empty() ? "" : ": ", why, "."));
}

ApiResponse NotProvided(absl::string_view name) {
  return Error(400, "parameter_not_provided",
               absl::StrCat("The ", name, " parameter is required."));
}

absl::Time FloorMillis(absl::Time t) { return absl::FromUnixMillis(absl::ToUnixMillis(t)); }

std::optional<ApiResponse> CheckQueryNames(const ApiRequest& request,
                                           std::initializer_list<absl::string_view> allowed) {
  std::vector<std::string> unknown;
  for (const auto& [name, value] : request.query) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end() &&
        std::find(unknown.begin(), unknown.end(), name) == unknown.end()) {
      unknown.push_back(name);
    }
  }
  if (unknown.empty()) return std::nullopt;
  return Error(400, "parameter_unknown",
               absl::StrCat("Unknown parameter(s): ", absl::StrJoin(unknown, ", "), "."));
}

std::optional<ApiResponse> SingleQueryValue(const ApiRequest& request, const std::string& name,
                                            std::optional<std::string>* out) {
  auto [begin, end] = request.query.equal_range(name);
  if (begin == end) return std::nullopt;
  if (std::next(begin) != end) return Invalid(name, "given more than once");
  *out = begin->second;
  return std::nullopt;
}

std::optional<ApiResponse> ParseJsonObject(const ApiRequest& request,
                                           std::initializer_list<absl::string_view> allowed,
                                           json* out) {
  if (request.body.empty()) {
    return Error(400, "parameter_invalid", "The request body must be a JSON object.");
  }
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return Error(400, "parameter_invalid", "The request body must be a JSON object.");
  }
  std::vector<std::string> unknown;
  for (const auto& item : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      unknown.push_back(item.key());
    }
  }
  if (!unknown.empty()) {
    return Error(400, "parameter_unknown",
                 absl::StrCat("Unknown parameter(s): ", absl::StrJoin(unknown, ", "), "."));
  }
  *out = std::move(body);
  return std::nullopt;
}

std::optional<ApiResponse> JsonBool(const json& body, const char* name, bool* out) {
  auto it = body.find(name);
  if (it == body.end()) return std::nullopt;
  if (!it->is_boolean()) return Invalid(name, "must be a boolean");
  *out = it->get<bool>();
  return std::nullopt;
}

bool IsFlatMetadata(const json& value) {
  if (!value.is_object()) return false;
  for (const auto& item : value.items()) {
    const json& v = item.value();
    if (!(v.is_string() || v.is_number() || v.is_boolean())) return false;
  }
  return true;
}

bool SameUtcDayAtOrAfter(absl::Time t, absl::Time from) {
  return t >= from &&
         absl::ToCivilDay(t, absl::UTCTimeZone()) == absl::ToCivilDay(from, absl::UTCTimeZone());
}

std::optional<ApiResponse> ParsePaging(const ApiRequest& request, Paging* out, int max_limit) {
  std::optional<std::string> page, limit;
  if (auto e = SingleQueryValue(request, "page", &page)) return e;
  if (auto e = SingleQueryValue(request, "page_limit", &limit)) return e;
  if (page && (!absl::SimpleAtoi(*page, &out->page) || out->page < 1)) {
    return Invalid("page", "must be an integer >= 1");
  }
  if (limit && (!absl::SimpleAtoi(*limit, &out->limit) || out->limit < 1 ||
                out->limit > max_limit)) {
    return Invalid("page_limit", absl::StrCat("must be an integer from 1 to ", max_limit));
  }
  return std::nullopt;
}

json PagedList(const std::vector<json>& items, const Paging& paging, const char* data_key) {
  const int64_t total = static_cast<int64_t>(items.size());
  const int64_t first = static_cast<int64_t>(paging.page - 1) * paging.limit;
  json data = json::array();
  for (int64_t i = first; i < total && i < first + paging.limit; ++i) data.push_back(items[i]);
  return json{{data_key, std::move(data)},
              {"page_info",
               {{"limit_per_page", paging.limit},
                {"page", paging.page},
                {"total_page", (total + paging.limit - 1) / paging.limit},
                {"total_results", total}}}};
}

}  // namespace tlsim
