#include "server/auth/authenticator.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/common/status_details.h"

namespace tlgw {

struct Authenticator::State {
  bool open = false;
  std::map<std::string, ClientConfig> clients;            // by id
  std::map<std::string, std::string> tenant_key;          // tenant -> current key
  std::set<std::string> sole_users;                       // tenants declared sole users of their account
  std::vector<std::pair<std::string, std::string>> hashes;  // (sha256 hex, client id)
  std::map<std::string, std::string> by_certificate;      // certificate name -> client id
};

std::string TokenSha256(absl::string_view token) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(d), sizeof(d)));
}

std::string NewToken() {
  unsigned char bytes[32];
  RAND_bytes(bytes, sizeof(bytes));
  return absl::StrCat("tlgw_", absl::WebSafeBase64Escape(
                                   absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

absl::StatusOr<std::shared_ptr<const Authenticator::State>> Authenticator::Build(const GatewayConfig& config,
                                                                  const std::string& open_key) {
  auto st = std::make_shared<State>();
  if (config.clients.empty()) {
    if (config.tenants.size() > 1) {
      return absl::InvalidArgumentError(
          "config clients: several tenants need clients to say which caller belongs to which");
    }
    st->open = true;
    std::string key = config.tenants.empty() ? open_key : config.tenants[0].resolved_keys.front();
    if (key.empty()) return absl::InvalidArgumentError("no Twelve Labs key for the default tenant");
    // Open mode has one tenant; its name is "default" whatever the file says,
    // so the records it makes do not change when clients are added later.
    st->tenant_key["default"] = key;
    // One key, one tenant, and (unless --allow_unauthenticated) loopback:
    // whoever runs it owns the account's tasks.
    st->sole_users.insert("default");
    return std::shared_ptr<const State>(st);
  }
  for (const auto& t : config.tenants) {
    if (t.resolved_keys.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("tenant ", t.name, " has no resolved key"));
    }
    st->tenant_key[t.name] = t.resolved_keys.front();
    if (t.sole_user_of_account) st->sole_users.insert(t.name);
  }
  for (const auto& c : config.clients) {
    st->clients[c.id] = c;
    if (!c.token_sha256.empty()) st->hashes.emplace_back(c.token_sha256, c.id);
    if (!c.certificate_name.empty()) st->by_certificate[c.certificate_name] = c.id;
  }
  return std::shared_ptr<const State>(st);
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(const GatewayConfig& config,
                                                                     const std::string& open_key,
                                                                     Clock* clock) {
  auto state = Build(config, open_key);
  if (!state.ok()) return state.status();
  auto a = std::unique_ptr<Authenticator>(new Authenticator(clock));
  absl::MutexLock lock(&a->mu_);
  a->state_ = *std::move(state);
  a->open_key_ = open_key;
  return a;
}

bool Authenticator::open_mode() const {
  absl::MutexLock lock(&mu_);
  return state_->open;
}

namespace {

bool MethodAllowed(const std::vector<std::string>& patterns, absl::string_view method) {
  for (const auto& p : patterns) {
    if (p == "*" || p == method) return true;
    if (absl::EndsWith(p, ".*") && absl::StartsWith(method, p.substr(0, p.size() - 1))) return true;
  }
  return false;
}

absl::Status Unauthenticated(absl::string_view why) {
  return WithErrorInfo(absl::UnauthenticatedError(why), "UNAUTHENTICATED", kGatewayDomain);
}

// The bearer token of the call, if any.
std::optional<std::string> BearerToken(const grpc::ServerContextBase& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return std::nullopt;
  absl::string_view v(it->second.data(), it->second.size());
  v = absl::StripAsciiWhitespace(v);
  if (v.size() < 7 || !absl::EqualsIgnoreCase(v.substr(0, 7), "bearer ")) return std::string();
  return std::string(absl::StripAsciiWhitespace(v.substr(7)));
}

// Names the TLS client certificate carries (subject CN and SANs).
std::vector<std::string> CertificateNames(const grpc::ServerContextBase& ctx) {
  std::vector<std::string> out;
  auto auth = ctx.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return out;
  for (const char* prop : {"x509_common_name", "x509_subject_alternative_name"}) {
    for (const auto& v : auth->FindPropertyValues(prop)) out.emplace_back(v.data(), v.size());
  }
  return out;
}

}  // namespace

absl::StatusOr<CallIdentity> Authenticator::Authorize(const grpc::ServerContextBase& ctx,
                                                      absl::string_view method) {
  std::shared_ptr<const State> st;
  {
    absl::MutexLock lock(&mu_);
    st = state_;
  }
  if (st->open) {
    CallIdentity id;
    id.client_id = "anonymous";
    id.tenant = "default";
    id.api_key = st->tenant_key.at("default");
    id.sole_user = true;
    id.alone = true;
    return id;
  }
  const ClientConfig* client = nullptr;
  std::optional<std::string> token = BearerToken(ctx);
  if (token.has_value()) {
    if (token->empty()) return Unauthenticated("authorization metadata must be 'Bearer <token>'");
    std::string hash = TokenSha256(*token);
    // Compare against every client, in constant time, whichever matches.
    const std::string* match = nullptr;
    for (const auto& [h, id] : st->hashes) {
      if (h.size() == hash.size() && CRYPTO_memcmp(h.data(), hash.data(), hash.size()) == 0) match = &id;
    }
    if (match == nullptr) return Unauthenticated("the bearer token is not valid (unknown, revoked or mistyped)");
    client = &st->clients.at(*match);
  } else {
    for (const auto& name : CertificateNames(ctx)) {
      auto it = st->by_certificate.find(name);
      if (it != st->by_certificate.end()) {
        client = &st->clients.at(it->second);
        break;
      }
    }
    if (client == nullptr) {
      return Unauthenticated("no credentials: send metadata 'authorization: Bearer <token>'");
    }
  }
  if (!MethodAllowed(client->methods, method)) {
    return WithErrorInfo(absl::PermissionDeniedError(absl::StrCat("client '", client->id, "' may not call ", method)),
                         "METHOD_NOT_ALLOWED", kGatewayDomain);
  }
  if (auto s = TakeToken(client->id, client->rate_limit); !s.ok()) return s;
  CallIdentity id;
  id.client_id = client->id;
  id.tenant = client->tenant;
  id.api_key = st->tenant_key.at(client->tenant);
  id.sole_user = st->sole_users.count(client->tenant) > 0;
  id.alone = id.sole_user && st->tenant_key.size() == 1;
  id.indexes = client->indexes;
  id.integrations = client->integrations;
  return id;
}

absl::Status Authenticator::CheckResources(const CallIdentity& identity, const CallResources& resources) {
  if (!resources.index_id.empty() && !IndexAllowed(identity, resources.index_id)) {
    return WithErrorInfo(absl::PermissionDeniedError(absl::StrCat("client '", identity.client_id,
                                                                  "' may not use index ", resources.index_id)),
                         "INDEX_NOT_ALLOWED", kGatewayDomain);
  }
  const auto& allowed = identity.integrations;
  auto listed = [&allowed](const std::string& v) {
    return !v.empty() && std::find(allowed.begin(), allowed.end(), v) != allowed.end();
  };
  if (!resources.integration.empty() && !allowed.empty() && !listed(resources.integration) &&
      !listed(resources.integration_id)) {
    return WithErrorInfo(absl::PermissionDeniedError(absl::StrCat("client '", identity.client_id,
                                                                  "' may not use integration ",
                                                                  resources.integration)),
                         "INTEGRATION_NOT_ALLOWED", kGatewayDomain);
  }
  return absl::OkStatus();
}

bool Authenticator::SoleUser(const std::string& tenant) const {
  absl::MutexLock lock(&mu_);
  return state_->sole_users.count(tenant) > 0;
}

bool Authenticator::Alone(const std::string& tenant) const {
  absl::MutexLock lock(&mu_);
  return state_->sole_users.count(tenant) > 0 && state_->tenant_key.size() == 1;
}

bool Authenticator::IndexAllowed(const CallIdentity& identity, const std::string& index_id) {
  return identity.indexes.empty() ||
         std::find(identity.indexes.begin(), identity.indexes.end(), index_id) != identity.indexes.end();
}

absl::Status Authenticator::TakeToken(const std::string& client_id, const RateLimit& limit) {
  if (limit.requests_per_second <= 0) return absl::OkStatus();
  const double burst = limit.burst > 0 ? limit.burst : std::max(1.0, limit.requests_per_second);
  if (RateLimiter* shared = limiter_.load(); shared != nullptr) {
    std::optional<absl::Duration> wait = shared->Take(client_id, limit.requests_per_second, burst);
    if (!wait) return absl::OkStatus();
    return WithRetryDelay(
        WithErrorInfo(absl::ResourceExhaustedError(absl::StrCat("client '", client_id, "' is over its rate limit of ",
                                                                limit.requests_per_second, " calls per second")),
                      "CLIENT_RATE_LIMITED", kGatewayDomain),
        *wait);
  }
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Bucket& b = buckets_[client_id];
  if (b.updated == absl::InfinitePast()) b.tokens = burst;
  else b.tokens = std::min(burst, b.tokens + absl::ToDoubleSeconds(now - b.updated) * limit.requests_per_second);
  b.updated = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return absl::OkStatus();
  }
  absl::Duration wait = absl::Seconds((1 - b.tokens) / limit.requests_per_second);
  return WithRetryDelay(
      WithErrorInfo(absl::ResourceExhaustedError(absl::StrCat("client '", client_id, "' is over its rate limit of ",
                                                              limit.requests_per_second, " calls per second")),
                    "CLIENT_RATE_LIMITED", kGatewayDomain),
      wait);
}

std::string Authenticator::CurrentKey(const std::string& tenant) const {
  absl::MutexLock lock(&mu_);
  auto it = state_->tenant_key.find(tenant);
  return it == state_->tenant_key.end() ? std::string() : it->second;
}

absl::StatusOr<std::string> Authenticator::Reload(const GatewayConfig& config) {
  std::string open_key;
  {
    absl::MutexLock lock(&mu_);
    open_key = open_key_;
  }
  auto next = Build(config, open_key);
  if (!next.ok()) return next.status();
  std::vector<std::function<void()>> revoked_calls;
  std::vector<std::string> changes;
  {
    absl::MutexLock lock(&mu_);
    const State& old = *state_;
    const State& now = **next;
    std::set<std::string> revoked;
    for (const auto& [id, c] : old.clients) {
      auto it = now.clients.find(id);
      if (it == now.clients.end()) {
        changes.push_back(absl::StrCat("client ", id, " removed"));
        revoked.insert(id);
      } else if (it->second.token_sha256 != c.token_sha256 || it->second.tenant != c.tenant ||
                 it->second.certificate_name != c.certificate_name) {
        changes.push_back(absl::StrCat("client ", id, " credentials or tenant changed"));
        revoked.insert(id);
      } else if (it->second.methods != c.methods || it->second.indexes != c.indexes ||
                 it->second.integrations != c.integrations) {
        changes.push_back(absl::StrCat("client ", id, " permissions changed"));
      }
    }
    for (const auto& [id, c] : now.clients) {
      if (old.clients.count(id) == 0) changes.push_back(absl::StrCat("client ", id, " added"));
    }
    for (const auto& [tenant, key] : now.tenant_key) {
      auto it = old.tenant_key.find(tenant);
      if (it == old.tenant_key.end()) changes.push_back(absl::StrCat("tenant ", tenant, " added"));
      else if (it->second != key) changes.push_back(absl::StrCat("tenant ", tenant, " key rotated"));
    }
    for (const auto& [tenant, key] : old.tenant_key) {
      if (now.tenant_key.count(tenant) == 0) changes.push_back(absl::StrCat("tenant ", tenant, " removed"));
    }
    for (const auto& [tenant, key] : now.tenant_key) {
      const bool was = old.sole_users.count(tenant) > 0, is = now.sole_users.count(tenant) > 0;
      if (was != is && old.tenant_key.count(tenant) > 0) {
        changes.push_back(absl::StrCat("tenant ", tenant, is ? " declared" : " no longer declared",
                                       " sole user of its account"));
      }
    }
    if (old.open != now.open) changes.push_back(now.open ? "open single-key mode" : "client tokens required");
    state_ = *std::move(next);
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      if (revoked.count(it->second.first) > 0) {
        revoked_calls.push_back(std::move(it->second.second));
        it = watchers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& f : revoked_calls) f();
  return changes.empty() ? std::string("no changes") : absl::StrJoin(changes, "; ");
}

uint64_t Authenticator::WatchRevocation(const std::string& client_id, std::function<void()> on_revoked) {
  absl::MutexLock lock(&mu_);
  uint64_t id = next_watch_++;
  watchers_.emplace(id, std::make_pair(client_id, std::move(on_revoked)));
  return id;
}

void Authenticator::Unwatch(uint64_t id) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(id);
}

}  // namespace tlgw
