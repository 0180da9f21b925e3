// The gateway's view of one HTTP exchange with the REST API, and the
// asynchronous transport interface that carries it.
//
// An HTTP error status (4xx, 5xx) is a *successful* transport result: the
// caller turns it into a Status in one place (twelvelabs/error_mapping).
// Transport failures are absl::Status values:
//   UNAVAILABLE        connection refused, reset, empty or truncated reply
//   DEADLINE_EXCEEDED  the request's timeout passed
//   CANCELLED          the transport shut down first, or a BodySource
//                      aborted the request
// A failure that happened before any byte was sent carries the payload
// kNotSentPayload, which tells the retry logic a create may be re-sent.
#ifndef TL_GATEWAY_SERVER_UPSTREAM_HTTP_H_
#define TL_GATEWAY_SERVER_UPSTREAM_HTTP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/cord.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tlgw {

inline constexpr char kNotSentPayload[] = "tl-gateway/upstream-not-sent";
// What kind of transport failure a status is, in UPPER_SNAKE_CASE
// (UPSTREAM_CONNECT_FAILED, UPSTREAM_DNS_FAILED, UPSTREAM_TLS_FAILED,
// UPSTREAM_CONNECTION_RESET, UPSTREAM_TIMEOUT, ...): the REST client turns
// it into the caller's ErrorInfo reason (this layer knows no gRPC details).
inline constexpr char kUpstreamFailurePayload[] = "tl-gateway/upstream-failure";

// A request body produced while the request is under way (a file streamed
// through the gateway). The transport pulls bytes with Read() on its own
// thread; a source with nothing to give yet answers kPause, and calls the
// resume callback (from any thread) once it has more.
class BodySource {
 public:
  static constexpr int64_t kPause = -1;
  static constexpr int64_t kAbort = -2;
  virtual ~BodySource() = default;
  // Called once, on the transport thread, before the first Read().
  // `resume` is thread-safe and may be called any number of times.
  virtual void Attach(std::function<void()> resume) = 0;
  // Copies up to `max` bytes to `buf`: returns the count, 0 at the end,
  // kPause when no byte is ready, or kAbort to fail the request.
  virtual int64_t Read(char* buf, size_t max) = 0;
  // True once every Read() will answer kAbort. The source calls resume
  // when it aborts; the transport then ends the request at once, even one
  // it is not reading from (an upstream that stopped taking bytes), so an
  // aborted upload holds no connection. Thread-safe.
  virtual bool aborted() const { return false; }
};

// Reads a Cord front to back into caller buffers, walking its pieces
// without joining them; Seek() moves anywhere (a rewind before a retry on a
// fresh connection is Seek(0)). Not thread-safe; the Cord must outlive it.
class CordReader {
 public:
  explicit CordReader(const absl::Cord* cord) : cord_(cord), it_(cord->char_begin()) {}
  // Copies up to `max` bytes to `buf`: the count, 0 at the end.
  size_t Read(char* buf, size_t max);
  // False (and nothing moves) past the end.
  bool Seek(size_t offset);
  size_t offset() const { return offset_; }

 private:
  const absl::Cord* cord_;
  absl::Cord::CharIterator it_;
  size_t offset_ = 0;
};

// One part of a multipart/form-data body.
struct FormPart {
  std::string name;
  std::string value;
  // When set, the part is sent as a file with this file name.
  std::optional<std::string> filename;
  // When set, the part's bytes come from `source` instead of `value`, and
  // exactly `size` of them are sent.
  std::shared_ptr<BodySource> source;
  int64_t size = 0;
};

struct HttpRequest {
  std::string method = "GET";  // GET, POST, DELETE, ...
  std::string url;             // absolute, query included
  // Extra headers (x-api-key, content-type of `body`, ...).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When non-empty, the body instead (a chunk PUT): the received pieces as
  // they are, never joined; a Cord, so the copy a request holds shares the
  // chunk kept for a retry. The transport reads it through a CordReader.
  absl::Cord cord_body;
  // When non-empty, the body is multipart/form-data made of these parts and
  // `body` is ignored.
  std::vector<FormPart> form;
  // The whole exchange must finish within this time; InfiniteDuration()
  // sets no limit (a streamed upload bounded by the caller's cancellation).
  absl::Duration timeout = absl::Seconds(30);
};

struct HttpResponse {
  int status = 0;
  // Header names are lower-cased; values keep their case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header named `name` (lower-case), if any.
  std::optional<std::string> Header(absl::string_view name) const;
};

class HttpTransport {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<HttpResponse>)>;
  virtual ~HttpTransport() = default;
  // Starts `request`; `done` runs exactly once, on the transport's own
  // thread, and must not block. Safe to call from any thread.
  virtual void Send(HttpRequest request, Callback done) = 0;
  // Ends every request in flight at once, and every later one as it is
  // sent, with UNAVAILABLE (GATEWAY_SHUTTING_DOWN); their callbacks have run
  // when it returns. The transport stays usable as an object, so code still
  // holding it cannot touch freed memory. Idempotent.
  virtual void Stop() {}
};

// True when `status` says the request never left the gateway.
bool NotSent(const absl::Status& status);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_UPSTREAM_HTTP_H_
