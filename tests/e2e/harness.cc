#include "tests/e2e/harness.h"

#include <fstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include <httplib.h>

// LeakSanitizer (--config=asan): c-ares, gRPC's DNS resolver, keeps a few
// bytes per resolved name ("localhost" in the TLS tests) for the life of
// the process. Only third-party leaks belong here. Unused without LSan.
extern "C" const char* __lsan_default_suppressions() { return "leak:libcares.so\n"; }

namespace tltest {

absl::StatusOr<SimProcess> StartSim(std::vector<std::string> extra_args) {
  SimProcess sim;
  std::string port_file = TempPath("sim.port");
  std::vector<std::string> argv = {Runfile("sim/twelvelabs_sim"), "--listen=127.0.0.1:0",
                                   "--port_file=" + port_file, "--manual_clock",
                                   std::string("--api_keys=") + kTestApiKey};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  auto p = Process::Start(argv, {}, TempPath("sim.log"));
  if (!p.ok()) return p.status();
  sim.process = *std::move(p);
  auto port = WaitForPortFile(port_file, sim.process.get());
  if (!port.ok()) return port.status();
  sim.port = *port;
  return sim;
}

absl::StatusOr<GatewayProcess> StartGateway(const GatewayArgs& args) {
  GatewayProcess gw;
  std::string port_file = TempPath("gateway.port");
  std::string admin_port_file = TempPath("gateway-admin.port");
  gw.log_path = TempPath("gateway.log");
  std::vector<std::string> argv = {Runfile("server/gateway"), "--listen=127.0.0.1:0",
                                   "--port_file=" + port_file,
                                   args.state_store.empty() ? "--state_db=" + args.state_db
                                                            : "--state_store=" + args.state_store,
                                   "--admin_listen=127.0.0.1:0", "--admin_port_file=" + admin_port_file};
  if (!args.upstream_url.empty()) argv.push_back("--upstream_url=" + args.upstream_url);
  if (!args.config_json.empty()) {
    std::string path = TempPath("gateway-config.json");
    std::ofstream(path) << args.config_json;
    argv.push_back("--config=" + path);
  }
  argv.insert(argv.end(), args.extra_args.begin(), args.extra_args.end());
  if (args.max_open_files > 0) {
    const std::string n = std::to_string(args.max_open_files);
    argv.insert(argv.begin(), {"/usr/bin/prlimit", "--nofile=" + n + ":" + n, "--"});
  }
  std::map<std::string, std::string> env;
  env["TWELVELABS_API_KEY"] = args.api_key;
  for (const auto& [k, v] : args.env) env[k] = v;
  auto p = Process::Start(argv, env, gw.log_path);
  if (!p.ok()) return p.status();
  gw.process = *std::move(p);
  auto port = WaitForPortFile(port_file, gw.process.get());
  if (!port.ok()) return port.status();
  gw.port = *port;
  auto admin_port = WaitForPortFile(admin_port_file, gw.process.get());
  if (!admin_port.ok()) return admin_port.status();
  gw.admin_port = *admin_port;
  gw.channel = grpc::CreateChannel(absl::StrCat(args.target_host, ":", gw.port),
                                   args.channel_credentials ? args.channel_credentials
                                                            : grpc::InsecureChannelCredentials());
  if (!gw.channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
    return absl::DeadlineExceededError("gateway port open but gRPC did not connect");
  }
  return gw;
}

nlohmann::json SimControl::Call(const std::string& method, const std::string& path, const std::string& body) {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(10, 0);
  httplib::Result r = method == "GET"      ? client.Get(path.c_str())
                      : method == "DELETE" ? client.Delete(path.c_str())
                                           : client.Post(path.c_str(), body, "application/json");
  if (!r || r->status / 100 != 2) {
    throw std::runtime_error(absl::StrCat("sim control ", method, " ", path, " failed: ",
                                          r ? std::to_string(r->status) + " " + r->body : "no answer"));
  }
  if (r->body.empty()) return nlohmann::json();
  return nlohmann::json::parse(r->body, nullptr, false);
}

nlohmann::json SimControl::Requests(const std::string& path_contains) {
  std::string path = "/_sim/requests";
  if (!path_contains.empty()) path += "?path_contains=" + httplib::detail::encode_query_param(path_contains);
  return Call("GET", path)["requests"];
}

void SimControl::ClearRequests() { Call("DELETE", "/_sim/requests"); }
int SimControl::AddFault(const nlohmann::json& fault) { return Call("POST", "/_sim/faults", fault.dump())["id"]; }
void SimControl::ClearFaults() { Call("DELETE", "/_sim/faults"); }
void SimControl::AdvanceClock(double seconds) {
  Call("POST", "/_sim/clock/advance", nlohmann::json({{"seconds", seconds}}).dump());
}
void SimControl::ForceStatus(const std::string& task_id, const std::string& status) {
  Call("POST", "/_sim/tasks/" + task_id + "/status", nlohmann::json({{"status", status}}).dump());
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path, absl::Duration timeout) {
  httplib::Client client("127.0.0.1", port);
  const int64_t us = absl::ToInt64Microseconds(timeout);
  client.set_connection_timeout(us / 1000000, us % 1000000);
  client.set_read_timeout(us / 1000000, us % 1000000);
  httplib::Result r = client.Get(path.c_str());
  if (!r) return absl::UnavailableError("no answer from " + path);
  if (r->status != 200) return absl::InternalError(absl::StrCat(path, " answered ", r->status, ": ", r->body));
  return r->body;
}

double MetricValue(const std::string& metrics, const std::string& name_and_labels) {
  size_t pos = 0;
  while ((pos = metrics.find(name_and_labels + " ", pos)) != std::string::npos) {
    if (pos == 0 || metrics[pos - 1] == '\n') {
      size_t start = pos + name_and_labels.size() + 1;
      return std::stod(metrics.substr(start, metrics.find('\n', start) - start));
    }
    pos += name_and_labels.size();
  }
  return -1;
}

std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

}  // namespace tltest
