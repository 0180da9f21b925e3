#include "sim/multipart.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"

namespace tlsim {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::Update(const char* data, size_t size) { EVP_DigestUpdate(ctx_->md, data, size); }

std::string Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_->md, digest, &length);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

MultipartCollector::MultipartCollector(std::set<std::string> file_fields,
                                       std::set<std::string> known_value_fields,
                                       uint64_t max_hashed_bytes, size_t max_value_bytes)
    : file_fields_(std::move(file_fields)),
      known_value_fields_(std::move(known_value_fields)),
      max_hashed_bytes_(max_hashed_bytes),
      max_value_bytes_(max_value_bytes) {}

bool MultipartCollector::OnPart(absl::string_view name, absl::string_view filename,
                                absl::string_view content_type) {
  ClosePart();
  in_part_ = true;
  current_name_ = std::string(name);
  current_is_file_ = file_fields_.count(current_name_) > 0 ||
                     (!filename.empty() && known_value_fields_.count(current_name_) == 0);
  if (current_is_file_) {
    current_file_ = UploadedFile{std::string(filename), std::string(content_type), 0, ""};
    current_hash_ = std::make_unique<Sha256>();
  }
  return true;
}

bool MultipartCollector::OnData(const char* data, size_t size) {
  if (!in_part_) return true;
  if (current_is_file_) {
    current_file_.size += size;
    if (current_hash_ != nullptr) {
      if (current_file_.size > max_hashed_bytes_) {
        current_hash_.reset();  // Too large to matter; spare the CPU.
      } else {
        current_hash_->Update(data, size);
      }
    }
    return true;
  }
  if (current_value_.size() + size > max_value_bytes_) {
    oversized_values_.insert(current_name_);
    current_value_.append(data, max_value_bytes_ - current_value_.size());
    return true;
  }
  current_value_.append(data, size);
  return true;
}

void MultipartCollector::Finish() { ClosePart(); }

void MultipartCollector::ClosePart() {
  if (!in_part_) return;
  in_part_ = false;
  if (current_is_file_) {
    if (current_hash_ != nullptr) current_file_.sha256 = current_hash_->HexDigest();
    current_hash_.reset();
    files_.emplace_back(current_name_, std::move(current_file_));
    current_file_ = UploadedFile();
  } else {
    values_.emplace_back(current_name_, std::move(current_value_));
    current_value_.clear();
  }
}

}  // namespace tlsim
