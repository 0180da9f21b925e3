// The process-wide budget of upload bytes held outside gRPC's buffers
// (--upload_memory_mib). gRPC's ResourceQuota counts a message only while
// gRPC holds it; once an upload moves its bytes into the gateway's own
// buffers (an UploadPipe, a MultipartUploader's chunks) they are counted
// here instead. Each upload reserves its whole working set before it holds
// a byte (at its header) and gives it back when it ends, so the uploads of
// all callers together never hold more than the budget; one that does not
// fit is refused at once (RESOURCE_EXHAUSTED, UPLOAD_CAPACITY) rather than
// waiting. A reservation is only ever taken whole and shrunk, never grown,
// so no upload waits on another while holding bytes: nothing can deadlock.
#ifndef TL_GATEWAY_SERVER_SERVICES_UPLOAD_BUDGET_H_
#define TL_GATEWAY_SERVER_SERVICES_UPLOAD_BUDGET_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tlgw {

class UploadBudget {
 private:
  // Shared with the reservations, so one that outlives the budget's owner
  // (an upload's last callback after shutdown) still releases safely.
  struct Pool {
    explicit Pool(int64_t c) : capacity(c) {}
    const int64_t capacity;
    absl::Mutex mu;
    int64_t reserved ABSL_GUARDED_BY(mu) = 0;
    int64_t refusals ABSL_GUARDED_BY(mu) = 0;
  };

 public:
  // Bytes of the budget held by one upload; given back when destroyed (or
  // by Release()). Movable, not copyable. Its methods are thread-safe.
  class Reservation {
   public:
    Reservation() = default;
    ~Reservation() { Release(); }
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;

    // Gives back all but `bytes` (no-op if it holds no more than that).
    void ShrinkTo(int64_t bytes);
    void Release() { ShrinkTo(0); }
    int64_t bytes() const;

   private:
    friend class UploadBudget;
    Reservation(std::shared_ptr<Pool> pool, int64_t bytes) : pool_(std::move(pool)), bytes_(bytes) {}
    std::shared_ptr<Pool> pool_;
    int64_t bytes_ = 0;  // guarded by pool_->mu once pool_ is set
  };

  explicit UploadBudget(int64_t capacity_bytes) : pool_(std::make_shared<Pool>(capacity_bytes)) {}

  // `bytes` of the budget, or UploadCapacityError() (and one more refusal
  // counted) when what is left cannot cover them.
  absl::StatusOr<Reservation> Reserve(int64_t bytes);

  int64_t capacity() const { return pool_->capacity; }
  int64_t reserved() const;
  int64_t refusals() const;

  // RESOURCE_EXHAUSTED, reason UPLOAD_CAPACITY, with RetryInfo: what an
  // upload that does not fit is told.
  static absl::Status UploadCapacityError();

 private:
  const std::shared_ptr<Pool> pool_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_UPLOAD_BUDGET_H_
