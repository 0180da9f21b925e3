// Collects a multipart/form-data body as it streams in, part by part. File
// parts are hashed (SHA-256) and counted, never stored, so a 2 GB upload
// costs no memory; value parts are kept up to a cap. Independent of the HTTP
// library: the server feeds it part headers and data chunks.
#ifndef TL_GATEWAY_SIM_MULTIPART_H_
#define TL_GATEWAY_SIM_MULTIPART_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tlsim {

// Incremental SHA-256 over OpenSSL's EVP interface.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const char* data, size_t size);
  // Lower-case hex digest; call once.
  std::string HexDigest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

struct UploadedFile {
  std::string filename;
  std::string content_type;
  uint64_t size = 0;
  std::string sha256;  // empty when the part exceeded the hashing cap
};

// Thread-compatible; one per request.
class MultipartCollector {
 public:
  // Parts named in `file_fields` are always files; any other part is a
  // value, except an unrecognised part that carries a filename (kept as a
  // file so the request log shows what arrived). `known_value_fields`
  // decides the latter. Files larger than `max_hashed_bytes` are counted
  // but no longer hashed.
  MultipartCollector(std::set<std::string> file_fields, std::set<std::string> known_value_fields,
                     uint64_t max_hashed_bytes, size_t max_value_bytes);

  // Starts a part. Always returns true: problems are reported afterwards
  // through the accessors so the whole body is still read.
  bool OnPart(absl::string_view name, absl::string_view filename, absl::string_view content_type);
  bool OnData(const char* data, size_t size);
  // Closes the last part; call once after the body was read.
  void Finish();

  // In arrival order; a name can repeat.
  const std::vector<std::pair<std::string, std::string>>& values() const { return values_; }
  const std::vector<std::pair<std::string, UploadedFile>>& files() const { return files_; }
  // Value parts that exceeded max_value_bytes (their value is truncated).
  const std::set<std::string>& oversized_values() const { return oversized_values_; }

 private:
  void ClosePart();

  const std::set<std::string> file_fields_;
  const std::set<std::string> known_value_fields_;
  const uint64_t max_hashed_bytes_;
  const size_t max_value_bytes_;

  bool in_part_ = false;
  bool current_is_file_ = false;
  std::string current_name_;
  std::string current_value_;
  UploadedFile current_file_;
  std::unique_ptr<Sha256> current_hash_;

  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::pair<std::string, UploadedFile>> files_;
  std::set<std::string> oversized_values_;
};

}  // namespace tlsim

#endif  // TL_GATEWAY_SIM_MULTIPART_H_
