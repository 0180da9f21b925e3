// What the upload benchmarks (upload_bench, asset_upload_bench) share: a
// large file made on the fly from its offset, and a sampler of a process's
// memory during an upload.
#ifndef TL_GATEWAY_BENCH_UPLOAD_FILES_H_
#define TL_GATEWAY_BENCH_UPLOAD_FILES_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace tlbench {

// The file is never stored: each 1 MiB block is one of eight pseudo-random
// 1 MiB blocks (splitmix64, made once) with its first 16 bytes replaced by
// the block's index and the seed, so every block differs and any offset is
// a memcpy (the client spends next to no CPU making bytes).
class FileBytes {
 public:
  FileBytes(int64_t size, uint64_t seed);
  int64_t size() const { return size_; }
  // Copies bytes [offset, offset + n) of the file to `out`.
  void Fill(int64_t offset, char* out, size_t n) const;
  // SHA-256 of the whole file, hex.
  std::string Sha256Hex() const;
  // SHA-256 over each `chunk`-byte piece's binary SHA-256 (the simulator's
  // digest of an assembled multipart upload), hex.
  std::string ChunkDigestHex(int64_t chunk) const;

 private:
  const int64_t size_;
  const uint64_t seed_;
  std::vector<std::string> blocks_;
};

// Samples a process's VmRSS every `every_ms` until stopped; keeps the largest.
class RssSampler {
 public:
  RssSampler(pid_t pid, int every_ms);
  ~RssSampler() { Stop(); }
  void Stop();
  int64_t max_kib() const { return max_.load(); }
  int samples() const { return samples_.load(); }

 private:
  const pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> max_{-1};
  std::atomic<int> samples_{0};
  std::thread thread_;
};

}  // namespace tlbench

#endif  // TL_GATEWAY_BENCH_UPLOAD_FILES_H_
