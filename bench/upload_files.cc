#include "bench/upload_files.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "bench/bench_support.h"

namespace tlbench {
namespace {

constexpr size_t kBlock = 1 << 20;
constexpr int kDistinctBlocks = 8;

std::string Hex(const unsigned char* digest, unsigned int len) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), len));
}

}  // namespace

FileBytes::FileBytes(int64_t size, uint64_t seed) : size_(size), seed_(seed), blocks_(kDistinctBlocks) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (auto& b : blocks_) {
    b.resize(kBlock);
    for (size_t i = 0; i < kBlock; i += 8) {
      // splitmix64
      uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      z ^= z >> 31;
      std::memcpy(&b[i], &z, 8);
    }
  }
}

void FileBytes::Fill(int64_t offset, char* out, size_t n) const {
  while (n > 0) {
    const int64_t block = offset / static_cast<int64_t>(kBlock);
    const size_t in_block = static_cast<size_t>(offset % static_cast<int64_t>(kBlock));
    const size_t take = std::min(n, kBlock - in_block);
    const std::string& src = blocks_[static_cast<size_t>(block * 5 + 3) % kDistinctBlocks];
    std::memcpy(out, src.data() + in_block, take);
    // The block's own first 16 bytes: its index and the seed.
    if (in_block < 16) {
      char stamp[16];
      const uint64_t b = static_cast<uint64_t>(block);
      std::memcpy(stamp, &b, 8);
      std::memcpy(stamp + 8, &seed_, 8);
      std::memcpy(out, stamp + in_block, std::min(take, 16 - in_block));
    }
    out += take;
    offset += static_cast<int64_t>(take);
    n -= take;
  }
}

std::string FileBytes::Sha256Hex() const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::string buf(kBlock, '\0');
  for (int64_t off = 0; off < size_; off += static_cast<int64_t>(kBlock)) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(kBlock, size_ - off));
    Fill(off, buf.data(), n);
    EVP_DigestUpdate(ctx, buf.data(), n);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  return Hex(digest, len);
}

std::string FileBytes::ChunkDigestHex(int64_t chunk) const {
  EVP_MD_CTX* outer = EVP_MD_CTX_new();
  EVP_DigestInit_ex(outer, EVP_sha256(), nullptr);
  std::string buf(static_cast<size_t>(chunk), '\0');
  for (int64_t off = 0; off < size_; off += chunk) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(chunk, size_ - off));
    Fill(off, buf.data(), n);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(buf.data(), n, d, &len, EVP_sha256(), nullptr);
    EVP_DigestUpdate(outer, d, len);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(outer, digest, &len);
  EVP_MD_CTX_free(outer);
  return Hex(digest, len);
}

RssSampler::RssSampler(pid_t pid, int every_ms) : pid_(pid) {
  thread_ = std::thread([this, every_ms] {
    while (!stop_.load()) {
      int64_t kib = ProcStatusKib(pid_, "VmRSS");
      if (kib > max_.load()) max_.store(kib);
      ++samples_;
      std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
    }
  });
}

void RssSampler::Stop() {
  if (thread_.joinable()) {
    stop_ = true;
    thread_.join();
  }
}

}  // namespace tlbench
