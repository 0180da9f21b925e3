// HttpTransport over libcurl's multi interface, driven by one event thread.
//
// Requests are queued from any thread and started on the event thread, which
// waits in curl_multi_poll() and is woken by curl_multi_wakeup(). The multi
// handle keeps a cache of kept-alive connections, so consecutive requests to
// the same host reuse TCP connections. Completion callbacks run on the event
// thread; a slow callback delays every other request, so callbacks only hand
// results on. This is the only component that links libcurl.
#ifndef TL_GATEWAY_SERVER_UPSTREAM_CURL_TRANSPORT_H_
#define TL_GATEWAY_SERVER_UPSTREAM_CURL_TRANSPORT_H_

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/upstream/http.h"

namespace tlgw {

struct CurlTransportOptions {
  // Kept-alive connections the multi handle may cache.
  int max_cached_connections = 256;
  // Upstream connections open at once; more requests wait for one to free
  // (each connection's use is bounded by its request's timeout). Bounds
  // the descriptors upstream traffic takes (see --grpc_max_connections).
  int max_connections = 512;
  // Connect phase limit, within the request's own timeout.
  absl::Duration connect_timeout = absl::Seconds(10);
  // A response body larger than this fails (protects gateway memory).
  size_t max_response_bytes = 64 << 20;
  // libcurl's upload buffer for streamed bodies: larger means fewer read
  // callbacks per MiB.
  long upload_buffer_bytes = 512 * 1024;
  // The same for chunk PUTs (HttpRequest::cord_body), one per PUT in
  // flight: 256 KiB measured the same CPU as 512 KiB (with the uploader's
  // quarter-chunk read-ahead) and as 2 MiB (curl's most), for 0.75 and
  // ~5 MiB less gateway memory at 3 PUTs in flight (bench/RESULTS.md).
  long put_buffer_bytes = 256 * 1024;
};

class CurlTransport : public HttpTransport {
 public:
  static absl::StatusOr<std::unique_ptr<CurlTransport>> Create(
      const CurlTransportOptions& options);
  ~CurlTransport() override;  // Stop()s.

  void Send(HttpRequest request, Callback done) override ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Transfer;
  explicit CurlTransport(const CurlTransportOptions& options, void* multi);
  void Loop();
  void Finish(Transfer* t, int curl_code);
  void Resume(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // Event thread: lets a transfer paused by its BodySource read again.
  static void Unpause(Transfer* t);
  // Event thread: whether the server closed the transfer's connection.
  static bool PeerClosed(void* easy);

  const CurlTransportOptions options_;
  void* const multi_;  // CURLM*, used only on the event thread after start.
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Transfer>> queued_ ABSL_GUARDED_BY(mu_);
  // Transfers whose BodySource asked to be read again after a pause.
  std::vector<uint64_t> resumed_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  std::once_flag joined_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_UPSTREAM_CURL_TRANSPORT_H_
