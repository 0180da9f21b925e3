#include "server/common/memory_trimmer.h"

#include <malloc.h>

namespace tlgw {

MemoryTrimmer::MemoryTrimmer(size_t threshold, absl::Duration every)
    : threshold_(threshold), every_(every), thread_([this] { Run(); }) {}

MemoryTrimmer::~MemoryTrimmer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

int64_t MemoryTrimmer::trims() const {
  absl::MutexLock lock(&mu_);
  return trims_;
}

void MemoryTrimmer::Run() {
  absl::MutexLock lock(&mu_);
  // Real time: this paces a background chore, not anything a caller sees.
  while (!mu_.AwaitWithTimeout(absl::Condition(&stop_), every_)) {
    mu_.Unlock();
    // Free bytes in all arenas (small chunks and the top of each heap).
    struct mallinfo2 info = mallinfo2();
    const bool trim = info.fordblks > threshold_;
    if (trim) malloc_trim(0);
    mu_.Lock();
    if (trim) ++trims_;
  }
}

}  // namespace tlgw
