#include "server/state/state_options.h"

#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "postgresql/libpq-fe.h"

namespace tlgw {
namespace {

// A conninfo value, quoted when libpq needs it to be.
std::string Quote(absl::string_view v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (c == ' ' || c == '\'' || c == '\\' || c == '\t' || c == '\n') plain = false;
  }
  if (plain) return std::string(v);
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

absl::StatusOr<StateStoreOptions> ParseStateStore(absl::string_view flag, StateStoreOptions base) {
  if (absl::ConsumePrefix(&flag, "sqlite:")) {
    if (flag.empty()) {
      return absl::InvalidArgumentError("--state_store: sqlite: needs a file path, e.g. sqlite:/var/lib/tl-gateway/state.db "
                                        "(or sqlite::memory: to keep nothing)");
    }
    base.kind = StateStoreOptions::Kind::kSqlite;
    base.sqlite_path = std::string(flag);
    return base;
  }
  if (absl::ConsumePrefix(&flag, "postgres:")) {
    if (flag.empty()) {
      return absl::InvalidArgumentError(
          "--state_store: postgres: needs a libpq conninfo, e.g. postgres:host=db.internal dbname=tlgw user=tlgw, "
          "or a URI, postgres:postgresql://tlgw@db.internal/tlgw");
    }
    char* err = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(std::string(flag).c_str(), &err);
    // libpq's message may quote part of the string, which may be a
    // password: it is not repeated.
    if (err != nullptr) PQfreemem(err);
    if (parsed == nullptr) {
      return absl::InvalidArgumentError(
          "--state_store: the text after postgres: is not a valid libpq conninfo (key=value pairs separated by "
          "spaces, values with spaces in single quotes) nor a postgresql:// URI");
    }
    PQconninfoFree(parsed);
    base.kind = StateStoreOptions::Kind::kPostgres;
    base.conninfo = std::string(flag);
    return base;
  }
  return absl::InvalidArgumentError(
      "--state_store: must be sqlite:PATH (one replica, the default) or postgres:CONNINFO (several replicas "
      "sharing one PostgreSQL database)");
}

absl::StatusOr<StateNotify> ParseStateNotify(absl::string_view flag) {
  if (flag == "listen") return StateNotify::kListen;
  if (flag == "poll") return StateNotify::kPoll;
  return absl::InvalidArgumentError(
      "--state_notify: must be listen (LISTEN/NOTIFY, the default) or poll (behind PgBouncer in transaction "
      "mode, which cannot LISTEN)");
}

absl::string_view StateNotifyName(StateNotify notify) {
  return notify == StateNotify::kListen ? "listen" : "poll";
}

std::string DefaultReplicaId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::strcpy(host, "replica");
  std::string id;
  for (const char* p = host; *p != '\0' && id.size() < 48; ++p) {
    const char c = *p;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_';
    id += ok ? c : '_';
  }
  return absl::StrCat(id, "-", getpid());
}

absl::Status ValidateReplicaId(absl::string_view id) {
  if (id.empty() || id.size() > 64) {
    return absl::InvalidArgumentError("--replica_id: must be 1 to 64 characters (default: hostname-pid)");
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == ':';
    if (!ok) {
      return absl::InvalidArgumentError(
          "--replica_id: only letters, digits and . _ - : are allowed (it names this replica in shared rows and logs)");
    }
  }
  return absl::OkStatus();
}

std::string RedactConnInfo(absl::string_view conninfo) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(conninfo).c_str(), &err);
  if (err != nullptr) PQfreemem(err);
  if (options == nullptr) return "(conninfo not shown: it does not parse)";
  std::string out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    absl::StrAppend(&out, out.empty() ? "" : " ", o->keyword, "=",
                    std::strcmp(o->keyword, "password") == 0 ? std::string("***") : Quote(o->val));
  }
  PQconninfoFree(options);
  return out;
}

std::string DescribeStateStore(const StateStoreOptions& options) {
  if (options.kind == StateStoreOptions::Kind::kSqlite) return absl::StrCat("sqlite:", options.sqlite_path);
  return absl::StrCat("postgres:", RedactConnInfo(options.conninfo));
}

}  // namespace tlgw
