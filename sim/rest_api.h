// The Twelve Labs REST endpoints (v1.2 and v1.3) as a transport-free
// function: a parsed request and the simulated time in, status + JSON out.
// Validates strictly (unknown parameters are errors) so a client sending
// the other version's fields gets caught. Also owns the per-key rate limiter
// and the mutations the control API needs.
//
// Thread-compatible: the server serialises calls under its own mutex.
#ifndef TL_GATEWAY_SIM_REST_API_H_
#define TL_GATEWAY_SIM_REST_API_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sim/api_util.h"
#include "sim/assets.h"
#include "sim/common.h"
#include "sim/model.h"
#include "sim/multipart.h"

namespace tlsim {

struct RestApiOptions {
  std::vector<std::string> api_keys;
  absl::Duration stage = absl::Seconds(2);
  int create_rate_limit = 1000;
  absl::Duration rate_window = absl::Hours(24);
  bool send_retry_after = true;
  uint64_t max_video_file_bytes = uint64_t{2} * 1024 * 1024 * 1024;
  std::string seed_index_id;
  std::string seed_integration_id;
  AssetApiOptions assets;  // the §9 endpoints (assets.h)
};

// Multipart part names POST /tasks treats as files in either version; any
// value field either version knows (so a value sent as a file-like part, as
// some Python SDKs do, is read as a value).
const std::set<std::string>& TaskFileFieldNames();
const std::set<std::string>& TaskValueFieldNames();

// A task's arrival at ready or failed, for webhooks.
struct TerminalTransition {
  std::string task_id;
  TaskStatus status;
  absl::Time at;  // simulated time it happened
};

class RestApi {
 public:
  // Seeds the index and the S3 integration named in `options`.
  RestApi(RestApiOptions options, absl::Time now);

  ApiResponse Handle(const ApiRequest& request, absl::Time now);

  // The 429 the limiter gives, for fault injection: message, Retry-After
  // (if `send_retry_after`) and X-Ratelimit-* headers.
  ApiResponse TooManyRequests(int retry_after_seconds, bool send_retry_after, absl::Time now) const;

  // Control API. Ids are generated when absent.
  absl::StatusOr<std::string> AddIndex(std::optional<std::string> id, const std::string& name,
                                       absl::Time now);
  absl::StatusOr<std::string> PutIntegration(std::optional<std::string> id,
                                             std::vector<IntegrationFile> files);
  absl::StatusOr<TaskState> ForceStatus(const std::string& task_id, TaskStatus status,
                                        absl::Time now);
  // Forgets all state (tasks, indexes, integrations, rate windows) and seeds
  // again.
  void Reset(absl::Time now);

  // Arrivals at ready or failed up to `now` not reported before, oldest
  // first; a task is reported again only after a forced status took it out
  // of ready/failed. Sets `*next` to the earliest later time at which
  // another arrival happens by itself (InfiniteFuture if none will). Costs
  // O(tasks not yet settled), not O(all tasks).
  std::vector<TerminalTransition> TakeTerminalTransitions(absl::Time now, absl::Time* next);

  // nullptr if there is no such task.
  const Task* FindTask(const std::string& id) const;

  // The §9 endpoints, for the presigned PUTs and the control API.
  AssetApi& assets() { return assets_; }

 private:
  std::string NewId();
  void Seed(absl::Time now);

  // Endpoints; `request` is authenticated.
  ApiResponse CreateIndex(const ApiRequest& request, absl::Time now);
  ApiResponse DeleteVideo(const ApiRequest& request, const std::string& index_id,
                          const std::string& video_id, absl::Time now);
  ApiResponse CreateTask(const ApiRequest& request, absl::Time now);
  ApiResponse CreateExternalTask(const ApiRequest& request, absl::Time now);
  ApiResponse RetrieveTask(const ApiRequest& request, const std::string& id, absl::Time now);
  ApiResponse ListTasks(const ApiRequest& request, absl::Time now);
  ApiResponse DeleteTask(const ApiRequest& request, const std::string& id, absl::Time now);
  ApiResponse StatusCounts(const ApiRequest& request, absl::Time now);
  ApiResponse Import(const ApiRequest& request, const std::string& id, absl::Time now);
  ApiResponse ImportStatus(const ApiRequest& request, const std::string& id, absl::Time now);
  ApiResponse ImportLogs(const ApiRequest& request, const std::string& id, absl::Time now);

  // Counts one create against the caller's window and adds the
  // X-Ratelimit-* headers to `headers`. Over the limit, returns the 429 to
  // send (headers included).
  std::optional<ApiResponse> TakeRateToken(
      const std::string& api_key, absl::Time now,
      std::vector<std::pair<std::string, std::string>>* headers);

  Task& AddTask(const std::string& index_id, ApiVersion version, absl::Time now);

  // Where a file of an integration stands for one index, judged from the
  // newest run that touched it.
  struct FileState {
    enum Kind { kNone, kTask, kRejected } kind = kNone;
    const Task* task = nullptr;
    FailedFile rejected;
  };
  FileState FileStateFor(const Integration& integration, const std::string& index_id,
                         const std::string& filename) const;

  const RestApiOptions options_;
  const std::set<std::string> api_keys_;
  absl::BitGen rng_;
  int64_t next_seq_ = 1;
  std::map<std::string, Index> indexes_;
  std::map<std::string, Task> tasks_;
  std::map<std::string, Integration> integrations_;
  // Tasks whose terminal arrival may still need reporting: new ones and
  // ones whose status was forced. See TakeTerminalTransitions.
  std::set<std::string> unsettled_;
  struct RateWindow {
    absl::Time start;
    int used = 0;
  };
  std::map<std::string, RateWindow> rate_windows_;
  AssetApi assets_;
};

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_REST_API_H_
