// Gives free heap memory back to the system after a burst.
//
// glibc keeps what a burst of calls freed (gRPC call arenas, upload chunk
// buffers, which main()'s mallopt calls keep off mmap) in its arenas for reuse, so the process's resident memory stays
// at the burst's peak long after the burst, attack or not: 2 GB after an
// HTTP/2 rapid-reset burst, measured. Once a second, when more than
// `threshold` bytes sit free in the heap, MemoryTrimmer hands them back
// (malloc_trim: a few ms, only after a burst).
#ifndef TL_GATEWAY_SERVER_COMMON_MEMORY_TRIMMER_H_
#define TL_GATEWAY_SERVER_COMMON_MEMORY_TRIMMER_H_

#include <cstddef>
#include <cstdint>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tlgw {

class MemoryTrimmer {
 public:
  explicit MemoryTrimmer(size_t threshold = size_t{32} << 20, absl::Duration every = absl::Seconds(1));
  ~MemoryTrimmer();  // stops the thread
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  int64_t trims() const;

 private:
  void Run();

  const size_t threshold_;
  const absl::Duration every_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t trims_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_MEMORY_TRIMMER_H_
