// Faults injected into REST responses on request of the control API
// (POST /_sim/faults): 5xx, latency, connection resets, broken JSON, 429
// bursts. This file only decides which fault applies; the server acts on it.
//
// Thread-compatible: the server calls it under its mutex.
#ifndef TL_GATEWAY_SIM_FAULTS_H_
#define TL_GATEWAY_SIM_FAULTS_H_

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace tlsim {

enum class FaultKind {
  kStatus,         // answer `status` with an internal_error body, or `body`
  kLatency,        // sleep `latency_ms`, then serve normally
  kReset,          // close the connection (TCP RST) without answering
  kMalformedJson,  // answer `status` (200) with a body that is not JSON
  kTruncatedJson,  // declare a longer Content-Length than is sent, then close
  kRateLimit,      // answer 429 as the limiter does, Retry-After included
  kWrongType,      // answer `status` (200) with valid JSON of the wrong types
  kEarlyStatus,    // sleep `latency_ms`, then answer `status` without reading
                   // the request body (an upload refused part-way)
  kLateAnswer,     // serve the request (a create creates its task), then
                   // sleep `latency_ms` before answering: a client that
                   // dies meanwhile never learns of the task
};

struct Fault {
  int id = 0;
  std::string method = "*";  // or an HTTP method, case-insensitive
  std::string path_regex;    // ECMAScript, searched in the full path
  std::shared_ptr<const std::regex> regex;
  FaultKind kind = FaultKind::kStatus;
  int status = 503;
  int latency_ms = 1000;
  int retry_after_seconds = -1;          // -1: no Retry-After (kStatus) / 1 (kRateLimit)
  std::optional<bool> send_retry_after;  // kRateLimit; default: server option
  int count = 1;                         // remaining uses; -1 = until cleared
  // kStatus: sent verbatim (as application/json) instead of the
  // internal_error body, with `headers` added; e.g. an upstream that echoes
  // the key back in odd places.
  std::optional<std::string> body;
  std::vector<std::pair<std::string, std::string>> headers;

  nlohmann::json ToJson() const;
};

class FaultList {
 public:
  // Parses a POST /_sim/faults body; returns the new fault's id.
  absl::StatusOr<int> Add(const nlohmann::json& spec);
  // The first fault (in the order added) matching the request, with its
  // count taken; exhausted faults are dropped.
  std::optional<Fault> Take(absl::string_view method, const std::string& path);
  bool Remove(int id);
  void Clear() { faults_.clear(); }
  nlohmann::json ToJson() const;

 private:
  int next_id_ = 1;
  std::vector<Fault> faults_;
};

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_FAULTS_H_
