#include "server/common/redactor.h"

#include <algorithm>

#include "absl/strings/str_replace.h"

namespace tlgw {

void Redactor::Add(const std::vector<std::string>& secrets) {
  absl::MutexLock lock(&mu_);
  auto next = std::make_shared<Secrets>(*secrets_);
  for (const std::string& s : secrets) {
    if (!s.empty() && std::find(next->begin(), next->end(), s) == next->end()) next->push_back(s);
  }
  // Longest first, so a key that contains another is replaced whole.
  std::sort(next->begin(), next->end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  secrets_ = std::move(next);
}

std::shared_ptr<const Redactor::Secrets> Redactor::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return secrets_;
}

bool Redactor::RedactInPlace(std::string* text, absl::string_view extra) const {
  bool replaced = false;
  auto one = [&](absl::string_view secret) {
    if (secret.empty() || absl::string_view(*text).find(secret) == absl::string_view::npos) return;
    absl::StrReplaceAll({{secret, kRedactedMarker}}, text);
    replaced = true;
  };
  for (const std::string& s : *Snapshot()) one(s);
  one(extra);
  return replaced;
}

}  // namespace tlgw
