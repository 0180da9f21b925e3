// ParseTask, ParseTaskPage and ParseRfc3339 against the tree-based versions
// they replaced (//tests/support:task_json_reference): the same Task, the
// same status (code, message and payload) on hand-written, generated and
// mutated bodies, valid or not.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/twelvelabs/json_mapping.h"
#include "tests/support/task_json_reference.h"

namespace tlgw {
namespace {

using google::protobuf::util::MessageDifferencer;

constexpr ApiVersion kVersions[] = {ApiVersion::kV1_2, ApiVersion::kV1_3};

// Returns "" when both agree, else what differs.
std::string CompareTask(const std::string& body, ApiVersion v) {
  auto got = ParseTask(body, v);
  auto want = reference::ParseTask(body, v);
  if (got.status() != want.status()) {
    return absl::StrCat("status: new ", got.status().ToString(), " / old ", want.status().ToString());
  }
  if (got.ok() && !MessageDifferencer::Equals(*got, *want)) {
    return absl::StrCat("task: new {", got->ShortDebugString(), "} / old {", want->ShortDebugString(), "}");
  }
  return "";
}

std::string ComparePage(const std::string& body, ApiVersion v) {
  auto got = ParseTaskPage(body, v);
  auto want = reference::ParseTaskPage(body, v);
  if (got.status() != want.status()) {
    return absl::StrCat("status: new ", got.status().ToString(), " / old ", want.status().ToString());
  }
  if (got.ok() && (!MessageDifferencer::Equals(got->tasks, want->tasks) || got->page != want->page ||
                   got->total_pages != want->total_pages)) {
    return absl::StrCat("page: new {", got->tasks.ShortDebugString(), " ", got->page, " ", got->total_pages,
                        "} / old {", want->tasks.ShortDebugString(), " ", want->page, " ", want->total_pages,
                        "}");
  }
  return "";
}

void ExpectSame(const std::string& body) {
  for (ApiVersion v : kVersions) {
    std::string task = CompareTask(body, v);
    EXPECT_EQ(task, "") << "ParseTask(" << VersionName(v) << ") of: " << body;
    std::string page = ComparePage(body, v);
    EXPECT_EQ(page, "") << "ParseTaskPage(" << VersionName(v) << ") of: " << body;
  }
}

// Bodies of each shape the API sends, with everything a Task reads.
const std::vector<std::string>& Seeds() {
  static const auto* seeds = new std::vector<std::string>{
      // v1.3, as the simulator renders it.
      R"({"_id":"6745d2f0c1a2b3c4d5e6f708","created_at":"2026-11-30T04:35:12.345Z","hls":{"status":"COMPLETE","thumbnail_urls":["https://s.invalid/a/thumbnails/0.jpg"],"updated_at":"2026-11-30T04:35:12.845Z","video_url":"https://s.invalid/a/stream.m3u8"},"index_id":"6745d2e9c1a2b3c4d5e6f701","status":"ready","system_metadata":{"duration":12.5,"filename":"bench.mp4","height":720,"width":1280},"updated_at":"2026-11-30T04:35:12.845Z","video_id":"6745d2f0c1a2b3c4d5e6f708"})",
      // v1.2, with estimated_time in an offset, process and metadata.
      R"({"_id":"62a17bf847f5678267ec10cc","index_id":"62a0906d47f5678267ec10a6",
        "status":"indexing","created_at":"2022-06-09T04:50:00.879Z","updated_at":"2022-06-09T04:55:57.256Z",
        "estimated_time":"2022-06-09T05:00:00.000+09:00",
        "metadata":{"duration":30.5,"filename":"a.mp4","height":720,"width":1280},
        "process":{"percentage":42.5,"remain_seconds":17}})",
      // Both metadata keys, unknown members of every type, nulls.
      R"({ "_id" : "x1", "video_id" : null, "status" : "transcoding", "extra" : {"a":[1,2,{"b":null}],"c":"d"},
        "metadata" : {"duration": 1e2, "filename": "m.mp4", "width": 640.4, "height": -0, "fps": 29.97},
        "system_metadata" : {"duration": 2, "filename": "s.mp4", "width": 1.5e3, "height": 1080},
        "hls" : {"thumbnail_urls": ["a", 5, null, ["b"], {"c": "d"}, "e"], "status": "PROCESSING",
                 "updated_at": null, "video_url": "u"}, "tags": [true, false, null], "n": 123456789012345678901,
        "process": {"percentage": 0, "remain_seconds": null}, "user_metadata": {"k": "v"}})",
      // Times: no fraction, nine digits, lower-case z, an offset.
      R"({"_id":"t","created_at":"2024-02-29T23:59:59Z","updated_at":"2024-01-01T00:00:00.123456789Z",
        "estimated_time":"2024-01-01T00:00:00.5z","hls":{"updated_at":"2024-01-01T09:00:00-01:30"}})",
      // Minimal.
      R"({"_id":"a"})",
      // Escapes and UTF-8 (the nlohmann path).
      R"({"_id":"\u0061\/b","index_id":"caf\u00e9","status":"r\u00e9ady","video_id":"日本語",
        "system_metadata":{"filename":"\ud83d\ude00.mp4","duration":1}})",
  };
  return *seeds;
}

// Values of every JSON type, for each known member in turn.
const std::vector<std::string>& Values() {
  static const auto* values = new std::vector<std::string>{
      "null", "true", "false", "0", "-0", "7", "-7", "2.5", "-2.5e-3", "1e400", "9007199254740993",
      "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
      "9.5e15", "1E2", R"("")", R"("ready")", R"("2022-01-14T13:20:22.986Z")", R"("2022-02-30T00:00:00Z")",
      R"("é")", R"("\"")", "[]", R"(["a","b"])", "{}", R"({"duration":1,"status":"x","updated_at":5})",
      R"({"percentage":1,"remain_seconds":"x"})", R"({"thumbnail_urls":"x"})", "[[[]]]",
  };
  return *values;
}

const char* const kKeys[] = {"_id", "index_id", "video_id", "status", "created_at", "updated_at",
                             "estimated_time", "metadata", "system_metadata", "hls", "process"};
const char* const kNestedKeys[] = {"duration", "filename", "width", "height", "video_url",
                                   "thumbnail_urls", "status", "updated_at", "percentage",
                                   "remain_seconds"};

TEST(ParseRfc3339, FastPathMatchesAbslParseTime) {
  std::vector<std::string> texts = {
      "2022-01-14T13:20:22.986Z", "2022-01-14T13:20:22Z", "2022-01-14T13:20:22.9Z",
      "2022-01-14T13:20:22.123456789Z", "2022-01-14T13:20:22.1234567891Z", "2022-01-14T13:20:22.Z",
      "2022-01-14t13:20:22Z", "2022-01-14T13:20:22z", "2022-01-14T13:20:22+09:00",
      "2022-01-14T13:20:22.5-00:30", "2022-01-14T13:20:22+00:00", " 2022-01-14T13:20:22Z",
      "2022-01-14T13:20:22Z ", "2022-1-14T13:20:22Z", "2022-01-14T13:20:60Z", "2016-12-31T23:59:60.5Z",
      "2022-01-14T24:00:00Z", "2022-01-14T23:60:00Z", "2022-00-14T00:00:00Z", "2022-13-14T00:00:00Z",
      "2022-01-00T00:00:00Z", "2022-01-32T00:00:00Z", "2023-02-29T00:00:00Z", "2024-02-29T00:00:00Z",
      "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2022-04-31T00:00:00Z",
      "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.0000000005Z",
      "2199-12-31T23:59:59.999999999Z", "2200-01-01T00:00:00Z", "2262-04-11T23:47:16.854775807Z",
      "2262-04-11T23:47:17Z", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "+2022-01-14T13:20:22Z",
      "-2022-01-14T13:20:22Z", "12022-01-14T13:20:22Z", "2022-01-14 13:20:22Z", "2022-01-14T13:20:22",
      "", "Z", "infinite-future", "2022-01-14T13:20:22.98aZ", "2022-01-14T1a:20:22Z",
      "2022-01-14T13:20:22.-1Z", "２022-01-14T13:20:22Z",
  };
  // Every day of a leap and a common year, and random times and fractions.
  for (int year : {2023, 2024}) {
    absl::Time t = absl::FromCivil(absl::CivilDay(year, 1, 1), absl::UTCTimeZone());
    for (int d = 0; d < 367; ++d) {
      texts.push_back(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t + absl::Hours(24 * d) + absl::Seconds(d * 97),
                                       absl::UTCTimeZone()));
    }
  }
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    const int64_t secs = static_cast<int64_t>(rng() % (int64_t{8} << 30)) - (int64_t{1} << 30);
    const int digits = static_cast<int>(rng() % 11);
    const int64_t frac = static_cast<int64_t>(rng() % 1000000000);
    std::string text = absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(secs), absl::UTCTimeZone());
    if (digits > 0) absl::StrAppend(&text, ".", absl::StrCat(frac + 1000000000).substr(1, digits));
    absl::StrAppend(&text, i % 7 == 0 ? "+05:30" : "Z");
    texts.push_back(text);
  }
  for (const std::string& text : texts) {
    auto got = ParseRfc3339(text);
    auto want = reference::ParseRfc3339(text);
    ASSERT_EQ(got.status(), want.status()) << text;
    if (got.ok()) {
      EXPECT_EQ(got->seconds(), want->seconds()) << text;
      EXPECT_EQ(got->nanos(), want->nanos()) << text;
    }
  }
}

TEST(ParseTask, SameAsTheTreeParserOnSeeds) {
  for (const std::string& seed : Seeds()) ExpectSame(seed);
}

TEST(ParseTask, SameAsTheTreeParserWithEveryValueInEveryMember) {
  for (const char* key : kKeys) {
    for (const std::string& value : Values()) {
      ExpectSame(absl::StrCat(R"({"_id":"a",")", key, R"(":)", value, "}"));
      // Repeated keys: the last one wins, whichever is valid.
      ExpectSame(absl::StrCat(R"({"_id":"a",")", key, R"(":)", value, R"(,")", key, R"(":"2022-01-14T13:20:22Z"})"));
      ExpectSame(absl::StrCat(R"({"_id":"a",")", key, R"(":{"status":"x"},")", key, R"(":)", value, "}"));
    }
  }
  for (const char* nest : {"metadata", "system_metadata", "hls", "process"}) {
    for (const char* key : kNestedKeys) {
      for (const std::string& value : Values()) {
        ExpectSame(absl::StrCat(R"({"_id":"a",")", nest, R"(":{")", key, R"(":)", value, "}}"));
        ExpectSame(absl::StrCat(R"({"_id":"a",")", nest, R"(":{")", key, R"(":)", value, R"(,")", key,
                                R"(":7},")", nest, R"(":{")", key, R"(":)", value, "}}"));
      }
    }
  }
}

TEST(ParseTask, SameAsTheTreeParserOnPagesAndRoots) {
  const std::string a = Seeds()[0], b = Seeds()[2];
  for (const std::string& body : {
           absl::StrCat(R"({"data":[)", a, ",", b, R"(],"page_info":{"page":2,"total_page":3,"total_results":25}})"),
           absl::StrCat(R"({"data":[)", a, R"(,5,)", b, "]}"),
           absl::StrCat(R"({"data":[)", a, R"(,{"_id":1}]})"),
           absl::StrCat(R"({"data":[)", a, R"(],"data":[)", b, "]}"),
           absl::StrCat(R"({"data":[)", a, R"(],"data":null})"),
           absl::StrCat(R"({"data":{"_id":"a"},"page_info":{"page":"x"}})"),
           absl::StrCat(R"({"page_info":{"page":1.5e16},"data":[]})"),
           absl::StrCat(R"({"page_info":{"page":1,"page":"2"},"data":[],"page_info":{"total_page":4}})"),
           std::string(R"({"data":[],"page_info":[]})"),
           std::string(R"({"_id":"a","hls":{"thumbnail_urls":["a"],"thumbnail_urls":["b",1]}})"),
           std::string(R"({"_id":"a","hls":{"thumbnail_urls":["a"]},"hls":{"status":"x"}})"),
           std::string(R"({"_id":"a","process":{"percentage":1},"process":{"remain_seconds":2}})"),
           std::string(R"({"_id":"a","metadata":{"width":1},"metadata":{"height":2},"system_metadata":5})"),
           std::string(R"({"data":[[],{}]})"),
           std::string("[]"), std::string("[{}]"), std::string("5"), std::string("\"x\""), std::string("null"),
           std::string("true"), std::string(""), std::string("   "), std::string("{}"), std::string("{} {}"),
           std::string("{}x"), std::string(" {\"_id\":\"a\"} \n"), std::string("\xEF\xBB\xBF{\"_id\":\"a\"}"),
           std::string("{\"_id\":\"a\"}\0trailing", 21), std::string("{\"_id\":\"a\0\"}", 12),
           std::string("{\"_id\":\"a\"\t,\r\"status\"\n:\"ready\"}"), std::string("{\"_id\":\"a\",}"),
           std::string("{\"_id\":\"a\x01\"}"), std::string("{\"_id\":\"\xC3\x28\"}"),
           std::string("{\"_id\":\"a\"/*c*/}"), std::string("{\"_id\":01}"), std::string("{\"_id\":1.}"),
           std::string("{\"_id\":.5}"), std::string("{\"_id\":+1}"), std::string("{\"_id\":NaN}"),
           std::string("{\"_id\":tru}"), std::string("{'_id':'a'}"),
       }) {
    ExpectSame(body);
  }
  // Deep nesting in an unknown member: the plain scanner gives up at 32
  // levels, nlohmann takes it.
  for (int depth : {30, 31, 32, 33, 40, 5000}) {
    ExpectSame(absl::StrCat(R"({"_id":"a","x":)", std::string(depth, '['), std::string(depth, ']'), "}"));
    ExpectSame(absl::StrCat(R"({"_id":"a","x":)", std::string(depth, '['), "}"));
  }
}

// Every one-byte deletion and a range of one-byte replacements of the
// seeds (as tasks and inside a list): most are invalid in some way.
TEST(ParseTask, SameAsTheTreeParserOnMutatedBodies) {
  const char replacements[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', '-', '.', 'e', ' ', 'x', '\0', '\x80', '\x1f'};
  for (const std::string& seed : Seeds()) {
    for (size_t i = 0; i < seed.size(); ++i) {
      std::string deleted = seed;
      deleted.erase(i, 1);
      ExpectSame(deleted);
      for (char c : replacements) {
        std::string replaced = seed;
        replaced[i] = c;
        ExpectSame(replaced);
      }
      if (HasFailure()) return;
    }
  }
  std::mt19937 rng(7);
  const std::string page = absl::StrCat(R"({"data":[)", Seeds()[0], ",", Seeds()[1], R"(],"page_info":{"page":1}})");
  for (int i = 0; i < 3000; ++i) {
    std::string body = page;
    for (int k = 0; k < 3; ++k) body[rng() % body.size()] = replacements[rng() % sizeof(replacements)];
    ExpectSame(body);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace tlgw
