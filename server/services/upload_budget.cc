#include "server/services/upload_budget.h"

#include <algorithm>
#include <utility>

#include "server/common/status_details.h"

namespace tlgw {

UploadBudget::Reservation::Reservation(Reservation&& other) noexcept { *this = std::move(other); }

UploadBudget::Reservation& UploadBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this == &other) return *this;
  Release();
  std::shared_ptr<Pool> pool = std::move(other.pool_);
  other.pool_ = nullptr;
  if (pool == nullptr) {
    pool_ = nullptr;
    bytes_ = 0;
    return *this;
  }
  absl::MutexLock lock(&pool->mu);
  bytes_ = other.bytes_;
  other.bytes_ = 0;
  pool_ = std::move(pool);
  return *this;
}

void UploadBudget::Reservation::ShrinkTo(int64_t bytes) {
  if (pool_ == nullptr) return;
  absl::MutexLock lock(&pool_->mu);
  const int64_t keep = std::max<int64_t>(0, std::min(bytes, bytes_));
  pool_->reserved -= bytes_ - keep;
  bytes_ = keep;
}

int64_t UploadBudget::Reservation::bytes() const {
  if (pool_ == nullptr) return 0;
  absl::MutexLock lock(&pool_->mu);
  return bytes_;
}

absl::StatusOr<UploadBudget::Reservation> UploadBudget::Reserve(int64_t bytes) {
  bytes = std::max<int64_t>(bytes, 0);
  {
    absl::MutexLock lock(&pool_->mu);
    if (bytes > pool_->capacity - pool_->reserved) {
      ++pool_->refusals;
      return UploadCapacityError();
    }
    pool_->reserved += bytes;
  }
  return Reservation(pool_, bytes);
}

int64_t UploadBudget::reserved() const {
  absl::MutexLock lock(&pool_->mu);
  return pool_->reserved;
}

int64_t UploadBudget::refusals() const {
  absl::MutexLock lock(&pool_->mu);
  return pool_->refusals;
}

absl::Status UploadBudget::UploadCapacityError() {
  // A few seconds: uploads in progress hold their bytes for a while, and a
  // burst of retries at once would only be refused again.
  return WithRetryDelay(
      WithErrorInfo(absl::ResourceExhaustedError(
                        "the gateway is at its limit of memory for uploads in progress; retry this upload in a "
                        "few seconds"),
                    "UPLOAD_CAPACITY", kGatewayDomain),
      absl::Seconds(5));
}

}  // namespace tlgw
