// A Twelve Labs REST API simulator: a real HTTP server on loopback serving
// the task, index and import endpoints under /v1.2 and /v1.3, the asset,
// multipart-upload and indexed-asset endpoints under /v1.3 (with presigned
// chunk URLs under /uploads/ that it serves itself), plus a control
// API under /_sim/ (request log, fault injection, clock, fixtures, webhooks)
// for tests. Tests and developers use it as the upstream. The only calls it
// makes out are signed webhooks to the URL it is given.
//
// Thread-safe. Requests are served on an internal thread pool; all state
// sits behind one mutex. Never logs API keys or the webhook secret.
#ifndef TL_GATEWAY_SIM_SIMULATOR_H_
#define TL_GATEWAY_SIM_SIMULATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tlsim {

struct SimulatorOptions {
  std::string host = "127.0.0.1";
  int port = 0;                                     // 0 = ephemeral
  std::vector<std::string> api_keys = {"sim-key"};  // accepted x-api-key values
  // Time spent in each of validating, pending, queued, indexing.
  double stage_seconds = 2.0;
  // When true, simulated time moves only via POST /_sim/clock/advance.
  bool manual_clock = false;
  // POST /tasks and /tasks/external-provider per key per window.
  int create_rate_limit = 1000;
  int rate_window_seconds = 86400;
  bool send_retry_after = true;  // include Retry-After on 429s
  std::string seed_index_id = "0123456789abcdef01234567";
  // An S3 integration with clip-a.mp4, clip-b.mp4 (good) and broken-c.mp4.
  std::string seed_integration_id = "0123456789abcdef89abcdef";
  // Larger video_file parts get 400 video_filesize_too_large.
  uint64_t max_video_file_bytes = uint64_t{2} * 1024 * 1024 * 1024;
  // Each open connection holds a thread while it lives (keep-alive included),
  // so this bounds concurrent clients.
  int num_threads = 128;
  // Idle keep-alive connections are closed after this long.
  int keep_alive_timeout_seconds = 5;
  // Where index.task.ready / index.task.failed events are POSTed, signed
  // with `webhook_secret` (TL-Signature). Empty = off. Both can be changed
  // at run time with POST /_sim/webhooks/config.
  std::string webhook_url;
  std::string webhook_secret;
  // Assets (docs/upstream-api.md §9). An asset processes for one stage;
  // an indexed asset spends one stage in each of pending, queued, indexing.
  // These can also be changed at run time with POST /_sim/assets/config.
  uint64_t multipart_chunk_bytes = uint64_t{5} << 20;  // the server's chunk_size
  int multipart_initial_urls = 10;  // presigned URLs in a new session's answer
  double presigned_url_ttl_seconds = 3600;
  // The bandwidth, in megabits per second, of one link that every
  // presigned chunk PUT's body shares (as an uploader's WAN uplink); 0: no
  // limit. For benchmarks (see link_shaper.h).
  double presigned_link_mbps = 0;
  uint64_t max_asset_file_bytes = 200'000'000;  // POST /assets method=direct
  // Successful DELETE/PATCH answers: 200 (newest API doc) or 204 (older).
  int empty_success_status = 200;
};

class Simulator {
 public:
  // Binds before returning, so port() is valid; serves on its own threads.
  static absl::StatusOr<std::unique_ptr<Simulator>> Start(const SimulatorOptions& options);

  ~Simulator();  // Stops.
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  int port() const;
  // e.g. "http://127.0.0.1:PORT/v1.2" for version "v1.2".
  std::string base_url(const std::string& version) const;

  // Closes the listener and open connections, waits for handlers to end.
  // Idempotent.
  void Stop();

  class Impl;

 private:
  explicit Simulator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_SIMULATOR_H_
