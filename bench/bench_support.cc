#include "bench/bench_support.h"

#include <dirent.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace tlbench {

int64_t ProcStatusKib(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  const std::string prefix = field + ":";
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, prefix)) continue;
    std::string rest(absl::StripAsciiWhitespace(line.substr(prefix.size())));
    size_t space = rest.find(' ');
    int64_t kib = 0;
    if (absl::SimpleAtoi(rest.substr(0, space), &kib)) return kib;
    return -1;
  }
  return -1;
}

bool ResetPeakRss(pid_t pid) {
  FILE* f = std::fopen(absl::StrCat("/proc/", pid, "/clear_refs").c_str(), "w");
  if (f == nullptr) return false;
  bool ok = std::fputs("5", f) >= 0;
  ok = (std::fclose(f) == 0) && ok;
  return ok;
}

int64_t RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return static_cast<int64_t>(rl.rlim_cur);
}

int CountOpenFds(pid_t pid) {
  DIR* d = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

HttpAnswer HttpCall(int port, const std::string& method, const std::string& path, const std::string& body,
                    absl::Duration timeout) {
  httplib::Client client("127.0.0.1", port);
  const int64_t us = absl::ToInt64Microseconds(timeout);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(us / 1000000, us % 1000000);
  client.set_write_timeout(us / 1000000, us % 1000000);
  httplib::Result r = method == "GET"      ? client.Get(path.c_str())
                      : method == "DELETE" ? client.Delete(path.c_str())
                                           : client.Post(path.c_str(), body.empty() ? std::string("{}") : body,
                                                         "application/json");
  HttpAnswer a;
  if (!r) {
    a.error = absl::StrCat(method, " ", path, ": ", httplib::to_string(r.error()));
    return a;
  }
  a.status = r->status;
  a.body = r->body;
  return a;
}

double MetricValue(const std::string& metrics, const std::string& name_and_labels) {
  size_t pos = 0;
  while ((pos = metrics.find(name_and_labels + " ", pos)) != std::string::npos) {
    if (pos == 0 || metrics[pos - 1] == '\n') {
      size_t start = pos + name_and_labels.size() + 1;
      double v = -1;
      if (absl::SimpleAtod(metrics.substr(start, metrics.find('\n', start) - start), &v)) return v;
      return -1;
    }
    pos += name_and_labels.size();
  }
  return -1;
}

absl::StatusOr<std::string> CreateUrlTaskOnSim(int sim_port, const std::string& api_key,
                                               const std::string& index_id, const std::string& video_url) {
  httplib::Client client("127.0.0.1", sim_port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(30, 0);
  httplib::Headers headers = {{"x-api-key", api_key}};
  httplib::MultipartFormDataItems items = {{"index_id", index_id, "", ""}, {"video_url", video_url, "", ""}};
  httplib::Result r = client.Post("/v1.3/tasks", headers, items);
  if (!r) return absl::UnavailableError(absl::StrCat("POST /v1.3/tasks: ", httplib::to_string(r.error())));
  if (r->status / 100 != 2) {
    return absl::InternalError(absl::StrCat("POST /v1.3/tasks answered ", r->status, ": ", r->body.substr(0, 300)));
  }
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("_id") || !j["_id"].is_string()) {
    return absl::InternalError(absl::StrCat("POST /v1.3/tasks: no _id in ", r->body.substr(0, 300)));
  }
  return j["_id"].get<std::string>();
}

std::string FormatMs(double ms) {
  if (ms < 0) return "n/a";
  if (ms < 10) return absl::StrFormat("%.2f", ms);
  if (ms < 100) return absl::StrFormat("%.1f", ms);
  return absl::StrFormat("%.0f", ms);
}

}  // namespace tlbench
