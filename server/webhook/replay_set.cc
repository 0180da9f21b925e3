#include "server/webhook/replay_set.h"

namespace tlgw {

bool MemoryReplaySet::Remember(const std::string& id) {
  if (capacity_ == 0) return true;
  absl::MutexLock lock(&mu_);
  if (!seen_.insert(id).second) return false;
  order_.push_back(id);
  while (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace tlgw
