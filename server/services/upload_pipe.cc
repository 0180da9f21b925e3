#include "server/services/upload_pipe.h"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace tlgw {

namespace {
std::atomic<int64_t> total_buffered{0};
}  // namespace

int64_t UploadPipe::TotalBuffered() { return total_buffered.load(); }

UploadPipe::~UploadPipe() {
  absl::MutexLock lock(&mu_);
  total_buffered -= static_cast<int64_t>(buffered_);
}

bool UploadPipe::Push(std::string chunk) {
  std::function<void()> wake;
  bool room;
  {
    absl::MutexLock lock(&mu_);
    if (aborted_) return false;
    buffered_ += chunk.size();
    total_buffered += static_cast<int64_t>(chunk.size());
    peak_ = std::max(peak_, buffered_);
    if (!chunk.empty()) chunks_.push_back(std::move(chunk));
    if (reader_paused_ && buffered_ > 0) {
      reader_paused_ = false;
      wake = resume_;
    }
    room = buffered_ < high_water_;
    if (!room) writer_waiting_ = true;
  }
  if (wake) wake();
  return room;
}

bool UploadPipe::HasRoom() const {
  absl::MutexLock lock(&mu_);
  return !aborted_ && buffered_ < high_water_;
}

void UploadPipe::Abort() {
  std::function<void()> wake;
  {
    absl::MutexLock lock(&mu_);
    if (aborted_) return;
    aborted_ = true;
    chunks_.clear();
    total_buffered -= static_cast<int64_t>(buffered_);
    buffered_ = 0;
    wake = resume_;
  }
  if (wake) wake();
}

size_t UploadPipe::buffered() const {
  absl::MutexLock lock(&mu_);
  return buffered_;
}

size_t UploadPipe::peak_buffered() const {
  absl::MutexLock lock(&mu_);
  return peak_;
}

bool UploadPipe::aborted() const {
  absl::MutexLock lock(&mu_);
  return aborted_;
}

int64_t UploadPipe::bytes_read() const {
  absl::MutexLock lock(&mu_);
  return read_;
}

void UploadPipe::Attach(std::function<void()> resume) {
  absl::MutexLock lock(&mu_);
  resume_ = std::move(resume);
}

int64_t UploadPipe::Read(char* buf, size_t max) {
  size_t n = 0;
  bool room_now = false;
  {
    absl::MutexLock lock(&mu_);
    if (aborted_) return kAbort;
    if (buffered_ == 0) {
      reader_paused_ = true;
      return kPause;
    }
    while (n < max && !chunks_.empty()) {
      const std::string& front = chunks_.front();
      size_t take = std::min(max - n, front.size() - front_offset_);
      std::memcpy(buf + n, front.data() + front_offset_, take);
      n += take;
      front_offset_ += take;
      if (front_offset_ == front.size()) {
        chunks_.pop_front();
        front_offset_ = 0;
      }
    }
    buffered_ -= n;
    read_ += static_cast<int64_t>(n);
    total_buffered -= static_cast<int64_t>(n);
    if (writer_waiting_ && buffered_ < high_water_) {
      writer_waiting_ = false;
      room_now = true;
    }
  }
  if (room_now && on_room_) on_room_();
  return static_cast<int64_t>(n);
}

}  // namespace tlgw
