// twelvelabs_sim: runs the Twelve Labs REST simulator until SIGTERM/SIGINT.
// Flags are read here only and folded into SimulatorOptions.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sim/simulator.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8090", "HOST:PORT to listen on; port 0 picks one");
ABSL_FLAG(std::string, port_file, "",
          "if set, the bound port and a newline are written here (atomically)");
ABSL_FLAG(std::string, api_keys, "",
          "comma-separated accepted x-api-key values; default: "
          "$TWELVELABS_SIM_API_KEYS, else sim-key");
ABSL_FLAG(double, stage_seconds, 2.0,
          "seconds a task spends in each of validating, pending, queued, indexing");
ABSL_FLAG(bool, manual_clock, false, "simulated time moves only via POST /_sim/clock/advance");
ABSL_FLAG(int, create_rate_limit, 1000, "task creations per API key per rate window");
ABSL_FLAG(int, rate_window_seconds, 86400, "rate-limit window length");
ABSL_FLAG(bool, send_retry_after, true, "send Retry-After on 429 responses");
ABSL_FLAG(int, threads, 128, "HTTP worker threads; each open connection holds one");
ABSL_FLAG(int64_t, max_video_file_bytes, int64_t{2} << 30,
          "video_file parts larger than this get video_filesize_too_large");
ABSL_FLAG(std::string, webhook_url, "",
          "POST signed index.task.ready/failed events here; empty = off (can also be set with "
          "POST /_sim/webhooks/config)");
ABSL_FLAG(std::string, webhook_secret, "",
          "webhook signing secret; default: $TWELVELABS_SIM_WEBHOOK_SECRET (preferred: a flag "
          "shows in ps)");
ABSL_FLAG(int64_t, multipart_chunk_bytes, int64_t{5} << 20,
          "the chunk_size multipart-upload sessions get (docs/upstream-api.md §9.4)");
ABSL_FLAG(int, multipart_initial_urls, 10,
          "presigned chunk URLs in a new multipart session's answer; the rest via presigned-urls");
ABSL_FLAG(double, presigned_url_ttl_seconds, 3600, "lifetime of a presigned chunk URL");
ABSL_FLAG(double, presigned_link_mbps, 0,
          "bandwidth in Mbit/s of one link shared by every presigned chunk PUT's body, as an uploader's WAN "
          "uplink (for benchmarks); 0 = no limit");
ABSL_FLAG(int64_t, max_asset_file_bytes, 200'000'000,
          "POST /assets method=direct files larger than this are refused");
ABSL_FLAG(int, empty_success_status, 200,
          "status of successful asset DELETE/PATCH answers: 200 (newest doc) or 204 (older)");

namespace {

absl::Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Twelve Labs REST API simulator (v1.2 and v1.3).");
  absl::ParseCommandLine(argc, argv);

  tlsim::SimulatorOptions options;
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &options.port) ||
      options.port < 0 || options.port > 65535) {
    std::cerr << "twelvelabs_sim: --listen must be HOST:PORT, got '" << listen << "'\n";
    return 2;
  }
  options.host = listen.substr(0, colon);
  std::string keys = absl::GetFlag(FLAGS_api_keys);
  if (keys.empty()) {
    const char* env = std::getenv("TWELVELABS_SIM_API_KEYS");
    keys = env != nullptr && *env != '\0' ? env : "sim-key";
  }
  options.api_keys = absl::StrSplit(keys, ',', absl::SkipWhitespace());
  options.stage_seconds = absl::GetFlag(FLAGS_stage_seconds);
  options.manual_clock = absl::GetFlag(FLAGS_manual_clock);
  options.create_rate_limit = absl::GetFlag(FLAGS_create_rate_limit);
  options.rate_window_seconds = absl::GetFlag(FLAGS_rate_window_seconds);
  options.send_retry_after = absl::GetFlag(FLAGS_send_retry_after);
  options.num_threads = absl::GetFlag(FLAGS_threads);
  options.max_video_file_bytes =
      static_cast<uint64_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_max_video_file_bytes)));
  options.multipart_chunk_bytes =
      static_cast<uint64_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_multipart_chunk_bytes)));
  options.multipart_initial_urls = absl::GetFlag(FLAGS_multipart_initial_urls);
  options.presigned_url_ttl_seconds = absl::GetFlag(FLAGS_presigned_url_ttl_seconds);
  options.presigned_link_mbps = absl::GetFlag(FLAGS_presigned_link_mbps);
  options.max_asset_file_bytes =
      static_cast<uint64_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_max_asset_file_bytes)));
  options.empty_success_status = absl::GetFlag(FLAGS_empty_success_status);
  options.webhook_url = absl::GetFlag(FLAGS_webhook_url);
  options.webhook_secret = absl::GetFlag(FLAGS_webhook_secret);
  if (options.webhook_secret.empty()) {
    const char* env = std::getenv("TWELVELABS_SIM_WEBHOOK_SECRET");
    if (env != nullptr) options.webhook_secret = env;
  }

  // Block the stop signals before any thread starts so every thread inherits
  // the mask and sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<tlsim::Simulator>> sim = tlsim::Simulator::Start(options);
  if (!sim.ok()) {
    std::cerr << "twelvelabs_sim: " << sim.status() << "\n";
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    if (absl::Status s = WritePortFile(port_file, (*sim)->port()); !s.ok()) {
      std::cerr << "twelvelabs_sim: " << s << "\n";
      return 1;
    }
  }
  // Never print the keys or the webhook secret themselves.
  std::cerr << "twelvelabs_sim: serving http://" << options.host << ":" << (*sim)->port()
            << "/{v1.2,v1.3} seed_index_id=" << options.seed_index_id
            << " seed_integration_id=" << options.seed_integration_id
            << " api_keys=" << options.api_keys.size()
            << " webhook_url=" << (options.webhook_url.empty() ? "off" : options.webhook_url)
            << " webhook_secret_set=" << (options.webhook_secret.empty() ? "no" : "yes")
            << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "twelvelabs_sim: signal " << signal_number << ", stopping" << std::endl;
  (*sim)->Stop();
  return 0;
}
