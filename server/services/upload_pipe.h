// The bounded buffer between an UploadVideoFile stream (gRPC side, which
// pushes chunks) and the upstream multipart request (transport side, which
// reads them). It holds at most about `high_water` bytes: the gRPC side
// stops reading from the client when it is full, which lets gRPC flow
// control slow the sender down to the upstream's pace, so the gateway's
// memory per upload does not grow with the file's size.
#ifndef TL_GATEWAY_SERVER_SERVICES_UPLOAD_PIPE_H_
#define TL_GATEWAY_SERVER_SERVICES_UPLOAD_PIPE_H_

#include <deque>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/upstream/http.h"

namespace tlgw {

class UploadPipe : public BodySource {
 public:
  // `on_room` runs (on the transport thread, with no lock held) when a read
  // takes the buffer below `high_water` after Push() reported it full.
  UploadPipe(size_t high_water, std::function<void()> on_room)
      : high_water_(high_water), on_room_(std::move(on_room)) {}
  ~UploadPipe() override;

  // Bytes held by every pipe of the process (for the metrics).
  static int64_t TotalBuffered();

  // gRPC side. Returns whether there is room for more; false after Abort().
  bool Push(std::string chunk) ABSL_LOCKS_EXCLUDED(mu_);
  bool HasRoom() const ABSL_LOCKS_EXCLUDED(mu_);
  // Makes the transport's next read fail the request.
  void Abort() ABSL_LOCKS_EXCLUDED(mu_);
  size_t buffered() const ABSL_LOCKS_EXCLUDED(mu_);
  // The most bytes ever buffered at once (for tests and metrics).
  size_t peak_buffered() const ABSL_LOCKS_EXCLUDED(mu_);
  // Bytes the transport has taken so far: the upload's idle timer reads it
  // to tell an upstream that stopped reading from a slow one.
  int64_t bytes_read() const ABSL_LOCKS_EXCLUDED(mu_);

  // Transport side.
  void Attach(std::function<void()> resume) override ABSL_LOCKS_EXCLUDED(mu_);
  int64_t Read(char* buf, size_t max) override ABSL_LOCKS_EXCLUDED(mu_);
  bool aborted() const override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const size_t high_water_;
  const std::function<void()> on_room_;
  mutable absl::Mutex mu_;
  std::deque<std::string> chunks_ ABSL_GUARDED_BY(mu_);
  size_t front_offset_ ABSL_GUARDED_BY(mu_) = 0;  // bytes of chunks_.front() already read
  size_t buffered_ ABSL_GUARDED_BY(mu_) = 0;
  size_t peak_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t read_ ABSL_GUARDED_BY(mu_) = 0;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  bool reader_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_waiting_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> resume_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_UPLOAD_PIPE_H_
