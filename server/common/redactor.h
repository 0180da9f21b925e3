// The secrets the gateway holds (every Twelve Labs key it was ever
// configured with in this process: all tenants', old and new), and the one
// function that removes them from text that came from upstream.
//
// Keys are only added, never forgotten: a key dropped by a reload is still
// a secret, and calls in flight may still be answered on it.
// Thread-safe.
#ifndef TL_GATEWAY_SERVER_COMMON_REDACTOR_H_
#define TL_GATEWAY_SERVER_COMMON_REDACTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace tlgw {

// What a redacted secret becomes.
inline constexpr char kRedactedMarker[] = "[redacted]";

class Redactor {
 public:
  // Adds `secrets` (empty strings are ignored).
  void Add(const std::vector<std::string>& secrets) ABSL_LOCKS_EXCLUDED(mu_);
  // Replaces every known secret in `text`, and `extra` (e.g. the key of the
  // call at hand, so a key is redacted even before it is registered) by
  // kRedactedMarker. Returns whether anything was replaced.
  bool RedactInPlace(std::string* text, absl::string_view extra = {}) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Secrets = std::vector<std::string>;
  std::shared_ptr<const Secrets> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  // Copied on write, so redaction never holds the lock while it scans.
  std::shared_ptr<const Secrets> secrets_ ABSL_GUARDED_BY(mu_) = std::make_shared<const Secrets>();
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_REDACTOR_H_
