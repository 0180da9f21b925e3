#include "server/upstream/http.h"

#include <algorithm>
#include <cstring>

namespace tlgw {

std::optional<std::string> HttpResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

size_t CordReader::Read(char* buf, size_t max) {
  size_t n = 0;
  while (n < max && it_ != cord_->char_end()) {
    const absl::string_view piece = absl::Cord::ChunkRemaining(it_);
    const size_t take = std::min(piece.size(), max - n);
    std::memcpy(buf + n, piece.data(), take);
    absl::Cord::Advance(&it_, take);
    n += take;
  }
  offset_ += n;
  return n;
}

bool CordReader::Seek(size_t offset) {
  if (offset > cord_->size()) return false;
  it_ = cord_->char_begin();
  absl::Cord::Advance(&it_, offset);
  offset_ = offset;
  return true;
}

bool NotSent(const absl::Status& status) {
  return status.GetPayload(kNotSentPayload).has_value();
}

}  // namespace tlgw
