// json_bench: the cost of turning a task body into a gw::Task (issue 10
// item 7): ParseTask/ParseTaskPage (server/twelvelabs/json_mapping.cc)
// against the tree-based parser they replaced, kept in
// //tests/support:task_json_reference, in one run.
//
//   bazel build -c opt //bench:json_bench
//   bazel-bin/bench/json_bench                      # ns per parse, new vs old
//   valgrind --tool=callgrind --toggle-collect='*ParseLoop*' bazel-bin/bench/json_bench --only=new --case=task --iterations=1000
//       # instructions per parse: callgrind's "Collected" / 1000
//
// Cases: `task`, a 550-byte v1.3 task as the simulator sends it (three
// times, system_metadata, hls); `escaped`, the same with "\/" in its URLs
// (as some JSON writers send them), which the plain-body scanner hands to
// nlohmann; `page`, a list of 10 such tasks; `time`, ParseRfc3339 of one
// API time. Every case first checks that both parsers give the same result.
// Timings alternate old and new, --rounds times, and report the medians:
// the machine is shared, so compare the ratio, not the absolute figures.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/twelvelabs/json_mapping.h"
#include "tests/support/task_json_reference.h"

ABSL_FLAG(int, iterations, 20000, "parses per timed round");
ABSL_FLAG(int, rounds, 7, "timed rounds per parser (alternating old and new)");
ABSL_FLAG(std::string, case, "", "only this case (task, escaped, page, time); default all");
ABSL_FLAG(std::string, only, "", "old or new: run only that parser, --iterations times, untimed "
                                 "(for callgrind)");

namespace {

using tlgw::ApiVersion;

const char kTask[] =
    R"({"_id":"6745d2f0c1a2b3c4d5e6f708","created_at":"2026-11-30T04:35:12.345Z","hls":{"status":"COMPLETE",)"
    R"("thumbnail_urls":["https://stream.sim.twelvelabs.invalid/6745d2f0c1a2b3c4d5e6f708/thumbnails/0.jpg"],)"
    R"("updated_at":"2026-11-30T04:35:12.845Z","video_url":"https://stream.sim.twelvelabs.invalid/)"
    R"(6745d2f0c1a2b3c4d5e6f708/stream.m3u8"},"index_id":"6745d2e9c1a2b3c4d5e6f701","status":"ready",)"
    R"("system_metadata":{"duration":12.5,"filename":"bench.mp4","height":720,"width":1280},)"
    R"("updated_at":"2026-11-30T04:35:12.845Z","video_id":"6745d2f0c1a2b3c4d5e6f708"})";

struct Case {
  std::string name;
  std::string input;
  // Parses `input` once with the new (true) or old parser; returns a value
  // derived from the result so the work cannot be optimised away, and
  // fills `out` (when not null) with a comparable rendering.
  std::function<size_t(const std::string&, bool, std::string*)> parse;
};

template <typename T>
std::string Render(const absl::StatusOr<T>& r) {
  if (!r.ok()) return r.status().ToString();
  if constexpr (std::is_same_v<T, tlgw::TaskPage>) {
    return absl::StrCat(r->tasks.DebugString(), " page=", r->page, " total_pages=", r->total_pages);
  } else {
    return r->DebugString();
  }
}

std::vector<Case> Cases() {
  std::string page = R"({"data":[)";
  for (int i = 0; i < 10; ++i) absl::StrAppend(&page, i ? "," : "", kTask);
  absl::StrAppend(&page, R"(],"page_info":{"limit_per_page":10,"page":1,"total_page":3,"total_results":25}})");
  auto task = [](const std::string& in, bool fresh, std::string* out) -> size_t {
    auto r = fresh ? tlgw::ParseTask(in, ApiVersion::kV1_3) : tlgw::reference::ParseTask(in, ApiVersion::kV1_3);
    if (out) *out = Render(r);
    return r.ok() ? r->id().size() : 0;
  };
  return {
      {"task", kTask, task},
      {"escaped", absl::StrReplaceAll(kTask, {{"/", "\\/"}}), task},
      {"page", page,
       [](const std::string& in, bool fresh, std::string* out) -> size_t {
         auto r = fresh ? tlgw::ParseTaskPage(in, ApiVersion::kV1_3)
                        : tlgw::reference::ParseTaskPage(in, ApiVersion::kV1_3);
         if (out) *out = Render(r);
         return r.ok() ? static_cast<size_t>(r->tasks.tasks_size()) : 0;
       }},
      {"time", "2026-11-30T04:35:12.345Z",
       [](const std::string& in, bool fresh, std::string* out) -> size_t {
         auto r = fresh ? tlgw::ParseRfc3339(in) : tlgw::reference::ParseRfc3339(in);
         if (out) *out = Render(r);
         return r.ok() ? static_cast<size_t>(r->nanos()) : 0;
       }},
  };
}

// Named for callgrind's --toggle-collect.
__attribute__((noinline)) size_t ParseLoop(const Case& c, bool fresh, int n) {
  size_t sink = 0;
  for (int i = 0; i < n; ++i) sink += c.parse(c.input, fresh, nullptr);
  return sink;
}

double TimeNs(const Case& c, bool fresh, int n) {
  auto start = std::chrono::steady_clock::now();
  volatile size_t sink = ParseLoop(c, fresh, n);
  (void)sink;
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / n;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_iterations);
  const std::string only = absl::GetFlag(FLAGS_only);
  const std::string which = absl::GetFlag(FLAGS_case);
  bool ok = true;
  if (only.empty()) {
    std::printf("| case | bytes | old ns/parse | new ns/parse | old / new |\n|---|---:|---:|---:|---:|\n");
  }
  for (const Case& c : Cases()) {
    if (!which.empty() && which != c.name) continue;
    std::string old_out, new_out;
    c.parse(c.input, false, &old_out);
    c.parse(c.input, true, &new_out);
    if (old_out != new_out) {
      std::printf("%s: the parsers disagree\nold: %s\nnew: %s\n", c.name.c_str(), old_out.c_str(),
                  new_out.c_str());
      ok = false;
      continue;
    }
    if (!only.empty()) {
      std::printf("%s: %zu\n", c.name.c_str(), ParseLoop(c, only == "new", n));
      continue;
    }
    ParseLoop(c, false, n / 10);  // warm up both
    ParseLoop(c, true, n / 10);
    std::vector<double> old_ns, new_ns;
    for (int r = 0; r < absl::GetFlag(FLAGS_rounds); ++r) {
      // ABBA: neither parser always runs first.
      if (r % 2 == 0) {
        old_ns.push_back(TimeNs(c, false, n));
        new_ns.push_back(TimeNs(c, true, n));
      } else {
        new_ns.push_back(TimeNs(c, true, n));
        old_ns.push_back(TimeNs(c, false, n));
      }
    }
    const double o = Median(old_ns), w = Median(new_ns);
    std::printf("| %s | %zu | %.0f | %.0f | %.2fx |\n", c.name.c_str(), c.input.size(), o, w, o / w);
  }
  return ok ? 0 : 1;
}
