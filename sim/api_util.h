// The transport-free request/response types of the simulator's REST layer
// and the validation helpers its endpoint files share (rest_api.cc for
// tasks, indexes and imports; assets.cc for docs/upstream-api.md §9).
// Pure functions; no state.
#ifndef TL_GATEWAY_SIM_API_UTIL_H_
#define TL_GATEWAY_SIM_API_UTIL_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sim/common.h"
#include "sim/multipart.h"

namespace tlsim {

struct ApiRequest {
  std::string method;  // GET, POST, DELETE, ...
  ApiVersion version = ApiVersion::kV1_3;
  std::string path;  // after the version prefix, e.g. "/tasks/<id>"
  std::multimap<std::string, std::string> query;
  std::optional<std::string> api_key;
  std::string content_type;
  std::string body;  // raw body of JSON endpoints
  // multipart/form-data bodies, already streamed through MultipartCollector.
  bool multipart = false;
  std::vector<std::pair<std::string, std::string>> form;
  std::vector<std::pair<std::string, UploadedFile>> files;
  std::set<std::string> oversized_values;
  // "http://host:port" the client reached the simulator at; presigned upload
  // URLs point there.
  std::string origin;
};

struct ApiResponse {
  int status = 200;
  std::optional<nlohmann::json> body;  // nullopt: no body (204)
  std::vector<std::pair<std::string, std::string>> headers;
};

inline constexpr int kMaxPageLimit = 50;

ApiResponse JsonResponse(int status, nlohmann::json body);
ApiResponse EmptyResponse(int status);
ApiResponse Error(int status, absl::string_view code, absl::string_view message);
// 400 parameter_invalid naming `name`, with an optional reason.
ApiResponse Invalid(absl::string_view name, absl::string_view why = "");
// 400 parameter_not_provided naming `name`.
ApiResponse NotProvided(absl::string_view name);

absl::Time FloorMillis(absl::Time t);

// 400 parameter_unknown listing query parameters not in `allowed`.
std::optional<ApiResponse> CheckQueryNames(const ApiRequest& request,
                                           std::initializer_list<absl::string_view> allowed);

// One value per name; repeats are invalid.
std::optional<ApiResponse> SingleQueryValue(const ApiRequest& request, const std::string& name,
                                            std::optional<std::string>* out);

// Parses a JSON object body; unknown keys are errors.
std::optional<ApiResponse> ParseJsonObject(const ApiRequest& request,
                                           std::initializer_list<absl::string_view> allowed,
                                           nlohmann::json* out);

// Reads an optional boolean member; error if present with another type.
std::optional<ApiResponse> JsonBool(const nlohmann::json& body, const char* name, bool* out);

// user_metadata: an object whose values are strings, numbers or booleans.
bool IsFlatMetadata(const nlohmann::json& value);

// The tasks list's date filter: "on that date at or after the given time".
bool SameUtcDayAtOrAfter(absl::Time t, absl::Time from);

// page (>= 1) and page_limit (1..max, default 10) from the query.
struct Paging {
  int page = 1;
  int limit = 10;
};
std::optional<ApiResponse> ParsePaging(const ApiRequest& request, Paging* out,
                                       int max_limit = kMaxPageLimit);

// {"data": items[page], "page_info": {...}} as docs/upstream-api.md §2.4.
nlohmann::json PagedList(const std::vector<nlohmann::json>& items, const Paging& paging,
                         const char* data_key = "data");

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_API_UTIL_H_
