#include "server/twelvelabs/json_mapping.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "server/common/status_details.h"
#include "server/twelvelabs/error_mapping.h"
#include <nlohmann/json.hpp>

namespace tlgw {
namespace {

using nlohmann::json;

const char* TypeName(const json& j) { return j.type_name(); }

// Reads fields of one JSON object, remembering the first type error. Null
// counts as absent: the API writes `"ended_at": null` for "not yet".
class Reader {
 public:
  Reader(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  const json* Find(const char* key) {
    if (!obj_.is_object()) return nullptr;
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  bool String(const char* key, std::string* out) {
    const json* v = Find(key);
    if (v == nullptr) return false;
    if (!v->is_string()) return Fail(key, "a string", *v);
    *out = v->get<std::string>();
    return true;
  }

  bool Number(const char* key, double* out) {
    const json* v = Find(key);
    if (v == nullptr) return false;
    if (!v->is_number()) return Fail(key, "a number", *v);
    *out = v->get<double>();
    return true;
  }

  bool Bool(const char* key, bool* out) {
    const json* v = Find(key);
    if (v == nullptr) return false;
    if (!v->is_boolean()) return Fail(key, "a boolean", *v);
    *out = v->get<bool>();
    return true;
  }

  bool Int(const char* key, int64_t* out) {
    double d = 0;
    if (!Number(key, &d)) return false;
    if (!std::isfinite(d) || std::fabs(d) > 9.0e15) return Fail(key, "an integer", *Find(key));
    *out = static_cast<int64_t>(std::llround(d));
    return true;
  }

  // Sets `*out` only when the field is present, so an absent time stays
  // unset in the message (callers pass a setter, not mutable_*()).
  template <typename Set>
  bool Time(const char* key, Set set) {
    std::string text;
    if (!String(key, &text)) return false;
    auto ts = ParseRfc3339(text);
    if (!ts.ok()) {
      SetError(absl::StrCat(path_, key, ": '", text, "' is not an RFC 3339 time"));
      return false;
    }
    set(*ts);
    return true;
  }

  // An object or array member, or nullptr when absent or of another type.
  const json* Object(const char* key) { return Typed(key, "an object", &json::is_object); }
  const json* Array(const char* key) { return Typed(key, "an array", &json::is_array); }

  std::string Path(const char* key) const { return absl::StrCat(path_, key); }
  void SetError(std::string e) {
    if (error_.empty()) error_ = std::move(e);
  }
  void Absorb(const Reader& child) {
    if (!child.error_.empty()) SetError(child.error_);
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  const json* Typed(const char* key, const char* want, bool (json::*is)() const noexcept) {
    const json* v = Find(key);
    if (v == nullptr) return nullptr;
    if (!(v->*is)()) {
      Fail(key, want, *v);
      return nullptr;
    }
    return v;
  }

  bool Fail(const char* key, const char* want, const json& got) {
    SetError(absl::StrCat(path_, key, " should be ", want, " but is ", TypeName(got)));
    return false;
  }

  const json& obj_;
  std::string path_;
  std::string error_;
};

absl::StatusOr<json> ParseObject(absl::string_view body, absl::string_view what) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return MalformedResponse(what, "the body is not valid JSON");
  if (!j.is_object()) return MalformedResponse(what, absl::StrCat("expected an object, got ", j.type_name()));
  return j;
}

// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                  // [0, 399]
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          // [0, 146096]
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// The shape the API writes every time in, "YYYY-MM-DDTHH:MM:SS.sssZ",
// without absl::ParseTime: cctz costs ~3.5k instructions a call, and a task
// has up to four times. Taken only when it is exactly that (an upper-case
// T and Z, zero to nine fractional digits, seconds up to 59, a real date)
// and the year is 1970-2199, where the nanoseconds since the epoch are
// positive and fit an int64 (absl::ToUnixNanos saturates beyond 2262 and
// rounds sub-nanoseconds towards zero before 1970). Anything else returns
// false and goes to absl::ParseTime, which then gives the same result or
// the same error as ever.
bool ParseApiTime(absl::string_view s, google::protobuf::Timestamp* out) {
  if (s.size() < 20 || s.size() > 30 || s.back() != 'Z') return false;
  auto digits = [s](size_t pos, size_t n, int* v) {
    int x = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      const unsigned d = static_cast<unsigned char>(s[i]) - static_cast<unsigned>('0');
      if (d > 9) return false;
      x = x * 10 + static_cast<int>(d);
    }
    *v = x;
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, &year) || s[4] != '-' || !digits(5, 2, &month) || s[7] != '-' ||
      !digits(8, 2, &day) || s[10] != 'T' || !digits(11, 2, &hour) || s[13] != ':' ||
      !digits(14, 2, &minute) || s[16] != ':' || !digits(17, 2, &second)) {
    return false;
  }
  int nanos = 0;
  const size_t fraction_digits = s.size() - 20;  // between "SS" and "Z", after a '.'
  if (fraction_digits > 0) {
    if (s[19] != '.' || fraction_digits < 2) return false;  // ".Z" is not a time
    if (!digits(20, fraction_digits - 1, &nanos)) return false;
    for (size_t i = fraction_digits - 1; i < 9; ++i) nanos *= 10;
  }
  if (year < 1970 || year > 2199 || month < 1 || month > 12 || day < 1 ||
      day > DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return false;
  }
  out->set_seconds(DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second);
  out->set_nanos(nanos);
  return true;
}

gw::HlsStatus HlsStatusFromText(absl::string_view text) {
  if (text == "PROCESSING") return gw::HLS_STATUS_PROCESSING;
  if (text == "COMPLETE") return gw::HLS_STATUS_COMPLETE;
  if (text == "CANCELED") return gw::HLS_STATUS_CANCELED;
  if (text == "ERROR") return gw::HLS_STATUS_ERROR;
  return gw::HLS_STATUS_OTHER;
}

// ---------------------------------------------------------------------------
// Tasks without a DOM.
//
// ParseTask and ParseTaskPage run on the curl thread for every GetTask and
// ListTasks. Building an nlohmann::json tree (a std::map node and a string
// per member) and then looking fields up cost ~85k instructions for a
// 550-byte task, more than the HTTP exchange itself (bench/RESULTS.md,
// "Upstream leg"). Instead, the body is read once as a stream of events
// (TaskEvents) that keeps only the members a Task has, each in a Slot, and
// the slots are then turned into the Task by TaskFromSlots, which is the
// former tree-based TaskFromJson's logic over slots: same fields, same order
// of checks, same messages. That code is kept, as an oracle, in
// tests/support/task_json_reference.cc; json_mapping_test compares the two
// on many bodies and json_bench measures them.
//
// Exactly as with the tree:
// - A repeated key: the last one wins (std::map::operator[] in the DOM).
// - Null counts as absent.
// - The first error in TaskFromJson's order of fields is reported, not the
//   first in the body's order, so slots are filled first and checked after.
// - What is and is not JSON is decided by nlohmann's parser (see
//   ParseEvents): every body ScanPlainJson does not fully accept goes to
//   nlohmann::json::sax_parse, with the same input adapter and the same
//   strict end-of-input rule as json::parse.

// A value's JSON type, named as nlohmann's type_name() names it (the
// messages say "should be a string but is number").
enum class Kind : uint8_t { kNull, kObject, kArray, kString, kBoolean, kNumber };

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kNull: return "null";
    case Kind::kObject: return "object";
    case Kind::kArray: return "array";
    case Kind::kString: return "string";
    case Kind::kBoolean: return "boolean";
    case Kind::kNumber: return "number";
  }
  return "null";
}

// The last value seen for one member. Absent and null are both kNull.
struct Slot {
  Kind kind = Kind::kNull;
  std::string text;   // when kString
  double number = 0;  // when kNumber (as json::get<double>() converts it)
};

struct MetadataSlots {
  Slot duration, filename, width, height;
};

struct TaskSlots {
  Slot id, index_id, video_id, status, created_at, updated_at, estimated_time;
  Slot metadata, system_metadata;  // objects
  MetadataSlots metadata_fields, system_metadata_fields;
  Slot hls;  // object
  Slot hls_video_url, hls_thumbnail_urls, hls_status, hls_updated_at;
  std::vector<std::string> hls_thumbnails;  // the strings of hls.thumbnail_urls
  Slot process;                             // object
  Slot process_percentage, process_remain_seconds;
};

// One item of `data` in a task list: its kind, and its slots if an object.
struct TaskItem {
  Kind kind = Kind::kNull;
  TaskSlots slots;
};

struct PageSlots {
  Slot data;  // array
  std::vector<TaskItem> items;
  Slot page_info;  // object
  Slot total_results, page, total_page;
};

// Builds TaskSlots (or PageSlots) from parse events. Every object or array
// opened inside a known member gets a frame saying what its members are;
// anything else is skipped by counting depth.
class TaskEvents {
 public:
  // Exactly one of `task` and `page` is set: the root is a task or a list.
  TaskEvents(TaskSlots* task, PageSlots* page) : root_task_(task), root_page_(page) {}

  // The root value's kind (kNull until it has started).
  Kind root_kind() const { return root_kind_; }

  void Key(absl::string_view key) {
    if (skip_depth_ > 0) return;
    Frame& f = frames_[depth_ - 1];
    f.slot = nullptr;
    f.child = Ctx::kSkip;
    switch (f.ctx) {
      case Ctx::kTask: TaskKey(f, key); break;
      case Ctx::kMetadata: MetadataKey(f, &f.task->metadata_fields, key); break;
      case Ctx::kSystemMetadata: MetadataKey(f, &f.task->system_metadata_fields, key); break;
      case Ctx::kHls:
        if (key == "video_url") f.slot = &f.task->hls_video_url;
        else if (key == "status") f.slot = &f.task->hls_status;
        else if (key == "updated_at") f.slot = &f.task->hls_updated_at;
        else if (key == "thumbnail_urls") Member(f, &f.task->hls_thumbnail_urls, Ctx::kThumbnails);
        break;
      case Ctx::kProcess:
        if (key == "percentage") f.slot = &f.task->process_percentage;
        else if (key == "remain_seconds") f.slot = &f.task->process_remain_seconds;
        break;
      case Ctx::kPage:
        if (key == "data") Member(f, &root_page_->data, Ctx::kData);
        else if (key == "page_info") Member(f, &root_page_->page_info, Ctx::kPageInfo);
        break;
      case Ctx::kPageInfo:
        if (key == "total_results") f.slot = &root_page_->total_results;
        else if (key == "page") f.slot = &root_page_->page;
        else if (key == "total_page") f.slot = &root_page_->total_page;
        break;
      default: break;  // arrays have no keys
    }
  }

  void String(absl::string_view s) {
    if (Slot* slot = Scalar(Kind::kString)) slot->text.assign(s.data(), s.size());
    else if (skip_depth_ == 0 && depth_ > 0 && frames_[depth_ - 1].ctx == Ctx::kThumbnails) {
      frames_[depth_ - 1].task->hls_thumbnails.emplace_back(s);
    }
  }
  void Number(double d) {
    if (Slot* slot = Scalar(Kind::kNumber)) slot->number = d;
  }
  void Boolean() { Scalar(Kind::kBoolean); }
  void Null() { Scalar(Kind::kNull); }

  void StartObject() { Open(Kind::kObject); }
  void StartArray() { Open(Kind::kArray); }
  void End() {
    if (skip_depth_ > 0) --skip_depth_;
    else --depth_;
  }

 private:
  enum class Ctx : uint8_t {
    kSkip, kTask, kMetadata, kSystemMetadata, kHls, kThumbnails, kProcess, kPage, kData, kPageInfo
  };
  struct Frame {
    Ctx ctx = Ctx::kSkip;
    TaskSlots* task = nullptr;  // the task this frame belongs to, if any
    Slot* slot = nullptr;       // the slot of the current key; nullptr: ignore
    Ctx child = Ctx::kSkip;     // what an object/array value of that key holds
  };

  void TaskKey(Frame& f, absl::string_view key) {
    TaskSlots* t = f.task;
    if (key == "_id") f.slot = &t->id;
    else if (key == "index_id") f.slot = &t->index_id;
    else if (key == "video_id") f.slot = &t->video_id;
    else if (key == "status") f.slot = &t->status;
    else if (key == "created_at") f.slot = &t->created_at;
    else if (key == "updated_at") f.slot = &t->updated_at;
    else if (key == "estimated_time") f.slot = &t->estimated_time;
    else if (key == "metadata") Member(f, &t->metadata, Ctx::kMetadata);
    else if (key == "system_metadata") Member(f, &t->system_metadata, Ctx::kSystemMetadata);
    else if (key == "hls") Member(f, &t->hls, Ctx::kHls);
    else if (key == "process") Member(f, &t->process, Ctx::kProcess);
  }
  static void MetadataKey(Frame& f, MetadataSlots* m, absl::string_view key) {
    if (key == "duration") f.slot = &m->duration;
    else if (key == "filename") f.slot = &m->filename;
    else if (key == "width") f.slot = &m->width;
    else if (key == "height") f.slot = &m->height;
  }
  static void Member(Frame& f, Slot* slot, Ctx child) {
    f.slot = slot;
    f.child = child;
  }

  // A scalar value: the slot to fill (its kind set), or nullptr to ignore it.
  Slot* Scalar(Kind kind) {
    if (skip_depth_ > 0) return nullptr;
    if (depth_ == 0) {
      root_kind_ = kind;
      return nullptr;
    }
    Frame& f = frames_[depth_ - 1];
    if (f.ctx == Ctx::kData) {
      root_page_->items.emplace_back().kind = kind;
      return nullptr;
    }
    if (f.slot == nullptr) return nullptr;
    f.slot->kind = kind;
    return f.slot;
  }

  // An object or array value starts: say what it holds, and reset what an
  // earlier value of the same key left (the last one wins).
  void Open(Kind kind) {
    if (skip_depth_ > 0) {
      ++skip_depth_;
      return;
    }
    Frame next;
    if (depth_ == 0) {
      root_kind_ = kind;
      if (kind == Kind::kObject) {
        next.ctx = root_task_ != nullptr ? Ctx::kTask : Ctx::kPage;
        next.task = root_task_;
      }
    } else {
      Frame& f = frames_[depth_ - 1];
      if (f.ctx == Ctx::kData) {
        TaskItem& item = root_page_->items.emplace_back();
        item.kind = kind;
        if (kind == Kind::kObject) {
          next.ctx = Ctx::kTask;
          next.task = &item.slots;
        }
      } else if (f.slot != nullptr) {
        f.slot->kind = kind;
        const bool wanted = f.child == Ctx::kThumbnails || f.child == Ctx::kData
                                ? kind == Kind::kArray
                                : f.child != Ctx::kSkip && kind == Kind::kObject;
        if (wanted) {
          next.ctx = f.child;
          next.task = f.task;
          Reset(next);
        }
      }
    }
    if (next.ctx == Ctx::kSkip) {
      skip_depth_ = 1;
      return;
    }
    frames_[depth_++] = next;
  }

  void Reset(const Frame& f) {
    switch (f.ctx) {
      case Ctx::kMetadata: f.task->metadata_fields = {}; break;
      case Ctx::kSystemMetadata: f.task->system_metadata_fields = {}; break;
      case Ctx::kHls:
        f.task->hls_video_url = {};
        f.task->hls_thumbnail_urls = {};
        f.task->hls_status = {};
        f.task->hls_updated_at = {};
        f.task->hls_thumbnails.clear();
        break;
      case Ctx::kThumbnails: f.task->hls_thumbnails.clear(); break;
      case Ctx::kProcess:
        f.task->process_percentage = {};
        f.task->process_remain_seconds = {};
        break;
      case Ctx::kData: root_page_->items.clear(); break;
      case Ctx::kPageInfo:
        root_page_->total_results = {};
        root_page_->page = {};
        root_page_->total_page = {};
        break;
      default: break;
    }
  }

  TaskSlots* root_task_;
  PageSlots* root_page_;
  Kind root_kind_ = Kind::kNull;
  // Known members nest at most 5 deep (list > data > task > hls > thumbnail_urls).
  std::array<Frame, 5> frames_;
  int depth_ = 0;
  int skip_depth_ = 0;  // > 0 inside a value nobody reads
};

// A JSON scanner for the plain bodies the API sends: ASCII strings without
// escapes, numbers, literals, nesting up to 32 deep. It is 5-10 times
// cheaper than nlohmann's lexer, which copies every character into a token
// buffer. It never rejects anything: on the first byte it does not fully
// understand (a backslash, a byte >= 0x80, a control character, a number
// it cannot convert exactly as nlohmann does, a syntax error, trailing
// data...) it gives up, and the body is parsed again by nlohmann, which
// then decides. So it only has to be right on what it accepts: valid JSON,
// giving the same events with the same values as nlohmann would.
class ScanPlainJson {
 public:
  ScanPlainJson(absl::string_view body, TaskEvents* out)
      : p_(body.data()), end_(body.data() + body.size()), out_(out) {}

  // True when the whole body was one valid JSON value, all of it sent to
  // `out`; false to give up (then `out` holds a partial document).
  bool Run() {
    if (!Value(0)) return false;
    SkipSpace();
    return p_ == end_;
  }

 private:
  static constexpr int kMaxDepth = 32;

  void SkipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool Value(int depth) {
    SkipSpace();
    if (p_ == end_) return false;
    switch (*p_) {
      case '{': return depth < kMaxDepth && Object(depth + 1);
      case '[': return depth < kMaxDepth && Array(depth + 1);
      case '"': {
        absl::string_view s;
        if (!String(&s)) return false;
        out_->String(s);
        return true;
      }
      case 't':
        if (!Literal("true")) return false;
        out_->Boolean();
        return true;
      case 'f':
        if (!Literal("false")) return false;
        out_->Boolean();
        return true;
      case 'n':
        if (!Literal("null")) return false;
        out_->Null();
        return true;
      default: return Number();
    }
  }

  bool Object(int depth) {
    ++p_;  // '{'
    out_->StartObject();
    SkipSpace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      out_->End();
      return true;
    }
    for (;;) {
      SkipSpace();
      absl::string_view key;
      if (!String(&key)) return false;
      out_->Key(key);
      SkipSpace();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      if (!Value(depth)) return false;
      switch (AfterElement('}')) {
        case kNext: continue;
        case kClosed: return true;
        case kBad: return false;
      }
    }
  }

  bool Array(int depth) {
    ++p_;  // '['
    out_->StartArray();
    SkipSpace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      out_->End();
      return true;
    }
    for (;;) {
      if (!Value(depth)) return false;
      switch (AfterElement(']')) {
        case kNext: continue;
        case kClosed: return true;
        case kBad: return false;
      }
    }
  }

  // After an object member or array element: a ',' (another follows) or
  // `close` (the container ends, and is reported), else malformed.
  enum Step { kNext, kClosed, kBad };
  Step AfterElement(char close) {
    SkipSpace();
    if (p_ == end_) return kBad;
    if (*p_ == ',') {
      ++p_;
      return kNext;
    }
    if (*p_ != close) return kBad;
    ++p_;
    out_->End();
    return kClosed;
  }

  // Printable ASCII only (0x20-0x7f), no escapes: then the text between
  // the quotes is the string's value.
  bool String(absl::string_view* out) {
    if (p_ == end_ || *p_ != '"') return false;
    const char* start = ++p_;
    while (p_ != end_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *out = absl::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c < 0x20 || c >= 0x80 || c == '\\') return false;
      ++p_;
    }
    return false;
  }

  bool Literal(absl::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || absl::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  // JSON's number grammar, converted as nlohmann's lexer converts it: an
  // integer through (unsigned) long long, anything else with strtod. Only
  // integers of up to 18 digits (never out of range) and finite doubles
  // are taken here.
  bool Number() {
    const char* start = p_;
    auto digits = [this] {
      const char* from = p_;
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      return p_ - from;
    };
    const bool negative = p_ != end_ && *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (digits() == 0) {
      return false;
    }
    const char* int_end = p_;
    bool integer = true;
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (digits() == 0) return false;
      integer = false;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (digits() == 0) return false;
      integer = false;
    }
    if (integer) {
      const char* d = start + (negative ? 1 : 0);
      if (int_end - d > 18) return false;
      uint64_t v = 0;
      for (; d != int_end; ++d) v = v * 10 + static_cast<uint64_t>(*d - '0');
      // number_integer (int64) for a minus sign, number_unsigned otherwise,
      // then json::get<double>() casts; "-0" is the integer 0.
      out_->Number(negative ? static_cast<double>(-static_cast<int64_t>(v)) : static_cast<double>(v));
      return true;
    }
    char buf[64];
    const size_t n = static_cast<size_t>(p_ - start);
    if (n >= sizeof(buf)) return false;
    std::memcpy(buf, start, n);
    buf[n] = '\0';
    char* parsed_end = nullptr;
    const double v = std::strtod(buf, &parsed_end);
    // Not all of it (a locale whose decimal point is not '.') or not finite
    // (nlohmann rejects the body): nlohmann decides.
    if (parsed_end != buf + n || !std::isfinite(v)) return false;
    out_->Number(v);
    return true;
  }

  const char* p_;
  const char* const end_;
  TaskEvents* out_;
};

// nlohmann's SAX interface onto TaskEvents, for the bodies ScanPlainJson
// gives up on. Numbers are cast as json::get<double>() casts them.
class NlohmannToTaskEvents : public json::json_sax_t {
 public:
  explicit NlohmannToTaskEvents(TaskEvents* out) : out_(out) {}
  bool null() override { return out_->Null(), true; }
  bool boolean(bool) override { return out_->Boolean(), true; }
  bool number_integer(number_integer_t v) override { return out_->Number(static_cast<double>(v)), true; }
  bool number_unsigned(number_unsigned_t v) override { return out_->Number(static_cast<double>(v)), true; }
  bool number_float(number_float_t v, const string_t&) override { return out_->Number(v), true; }
  bool string(string_t& s) override { return out_->String(s), true; }
  bool binary(binary_t&) override { return false; }  // not produced by the JSON parser
  bool start_object(std::size_t) override { return out_->StartObject(), true; }
  bool key(string_t& k) override { return out_->Key(k), true; }
  bool end_object() override { return out_->End(), true; }
  bool start_array(std::size_t) override { return out_->StartArray(), true; }
  bool end_array() override { return out_->End(), true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  TaskEvents* out_;
};

// Fills `task` or `page` from `body`. The errors are ParseObject's.
absl::Status ParseEvents(absl::string_view body, absl::string_view what, TaskSlots* task,
                         PageSlots* page) {
  TaskEvents events(task, page);
  if (!ScanPlainJson(body, &events).Run()) {
    // Start again from empty slots: the scan may have filled some.
    if (task != nullptr) *task = TaskSlots();
    if (page != nullptr) *page = PageSlots();
    events = TaskEvents(task, page);
    NlohmannToTaskEvents sax(&events);
    if (!json::sax_parse(body.begin(), body.end(), &sax)) {
      return MalformedResponse(what, "the body is not valid JSON");
    }
  }
  if (events.root_kind() != Kind::kObject) {
    return MalformedResponse(what, absl::StrCat("expected an object, got ", KindName(events.root_kind())));
  }
  return absl::OkStatus();
}

// Reader's checks over slots instead of a json object: the same messages.
class SlotReader {
 public:
  explicit SlotReader(std::string path) : path_(std::move(path)) {}

  bool String(const char* key, Slot& v, std::string* out) {
    if (v.kind == Kind::kNull) return false;
    if (v.kind != Kind::kString) return Fail(key, "a string", v);
    *out = std::move(v.text);
    return true;
  }

  bool Number(const char* key, const Slot& v, double* out) {
    if (v.kind == Kind::kNull) return false;
    if (v.kind != Kind::kNumber) return Fail(key, "a number", v);
    *out = v.number;
    return true;
  }

  bool Int(const char* key, const Slot& v, int64_t* out) {
    double d = 0;
    if (!Number(key, v, &d)) return false;
    if (!std::isfinite(d) || std::fabs(d) > 9.0e15) return Fail(key, "an integer", v);
    *out = static_cast<int64_t>(std::llround(d));
    return true;
  }

  template <typename Set>
  bool Time(const char* key, Slot& v, Set set) {
    std::string text;
    if (!String(key, v, &text)) return false;
    auto ts = ParseRfc3339(text);
    if (!ts.ok()) {
      SetError(absl::StrCat(path_, key, ": '", text, "' is not an RFC 3339 time"));
      return false;
    }
    set(*ts);
    return true;
  }

  // True when `v` is an object (or array); an error when of another type.
  bool Object(const char* key, const Slot& v) { return Typed(key, v, Kind::kObject, "an object"); }
  bool Array(const char* key, const Slot& v) { return Typed(key, v, Kind::kArray, "an array"); }

  std::string Path(const char* key) const { return absl::StrCat(path_, key); }
  void SetError(std::string e) {
    if (error_.empty()) error_ = std::move(e);
  }
  void Absorb(const SlotReader& child) {
    if (!child.error_.empty()) SetError(child.error_);
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  bool Typed(const char* key, const Slot& v, Kind kind, const char* want) {
    if (v.kind == Kind::kNull) return false;
    if (v.kind != kind) return Fail(key, want, v);
    return true;
  }
  bool Fail(const char* key, const char* want, const Slot& got) {
    SetError(absl::StrCat(path_, key, " should be ", want, " but is ", KindName(got.kind)));
    return false;
  }

  std::string path_;
  std::string error_;
};

void MetadataFromSlots(SlotReader& parent, MetadataSlots& m, const std::string& path,
                       gw::VideoMetadata* out) {
  SlotReader r(path);
  double d = 0;
  int64_t i = 0;
  if (r.Number("duration", m.duration, &d)) out->set_duration_seconds(d);
  r.String("filename", m.filename, out->mutable_filename());
  if (r.Int("width", m.width, &i)) out->set_width(static_cast<int32_t>(i));
  if (r.Int("height", m.height, &i)) out->set_height(static_cast<int32_t>(i));
  parent.Absorb(r);
}

// The tree-based TaskFromJson over slots (which it empties).
bool TaskFromSlots(TaskSlots& s, ApiVersion version, const std::string& path, gw::Task* task,
                   std::string* error) {
  SlotReader r(path);
  if (!r.String("_id", s.id, task->mutable_id()) && r.ok()) r.SetError(r.Path("_id") + " is missing");
  r.String("index_id", s.index_id, task->mutable_index_id());
  r.String("video_id", s.video_id, task->mutable_video_id());
  if (r.String("status", s.status, task->mutable_status_text())) {
    task->set_status(TaskStatusFromText(task->status_text()));
  }
  r.Time("created_at", s.created_at, [&](const auto& t) { *task->mutable_create_time() = t; });
  r.Time("updated_at", s.updated_at, [&](const auto& t) { *task->mutable_update_time() = t; });
  r.Time("estimated_time", s.estimated_time, [&](const auto& t) { *task->mutable_estimated_time() = t; });
  // The version's own key first; the other one too, so nothing is lost if a
  // deployment answers with the newer shape.
  const bool v12 = TaskMetadataKey(version) == "metadata";
  MetadataSlots* meta = nullptr;
  if (v12) {
    if (r.Object("metadata", s.metadata)) meta = &s.metadata_fields;
    else if (r.Object("system_metadata", s.system_metadata)) meta = &s.system_metadata_fields;
  } else {
    if (r.Object("system_metadata", s.system_metadata)) meta = &s.system_metadata_fields;
    else if (r.Object("metadata", s.metadata)) meta = &s.metadata_fields;
  }
  if (meta != nullptr) MetadataFromSlots(r, *meta, r.Path("metadata."), task->mutable_system_metadata());
  if (r.Object("hls", s.hls)) {
    SlotReader h(r.Path("hls."));
    gw::HlsInfo* out = task->mutable_hls();
    h.String("video_url", s.hls_video_url, out->mutable_video_url());
    if (h.Array("thumbnail_urls", s.hls_thumbnail_urls)) {
      for (std::string& t : s.hls_thumbnails) out->add_thumbnail_urls(std::move(t));
    }
    if (h.String("status", s.hls_status, out->mutable_status_text())) {
      out->set_status(HlsStatusFromText(out->status_text()));
    }
    h.Time("updated_at", s.hls_updated_at, [&](const auto& t) { *out->mutable_update_time() = t; });
    r.Absorb(h);
  }
  if (r.Object("process", s.process)) {
    SlotReader p(r.Path("process."));
    double d = 0;
    if (p.Number("percentage", s.process_percentage, &d)) task->mutable_progress()->set_percentage(d);
    if (p.Number("remain_seconds", s.process_remain_seconds, &d)) {
      task->mutable_progress()->set_remaining_seconds(d);
    }
    r.Absorb(p);
  }
  if (!r.ok()) {
    *error = r.error();
    return false;
  }
  return true;
}

void ReadFailedFile(Reader& parent, const json& j, const std::string& path, gw::FailedFile* out) {
  Reader r(j, path);
  r.String("filename", out->mutable_filename());
  r.String("error_message", out->mutable_error_message());
  r.Time("created_at", [&](const auto& t) { *out->mutable_create_time() = t; });
  parent.Absorb(r);
}

}  // namespace

gw::TaskStatus TaskStatusFromText(absl::string_view text) {
  if (text == "uploading") return gw::TASK_STATUS_UPLOADING;
  if (text == "validating") return gw::TASK_STATUS_VALIDATING;
  if (text == "pending") return gw::TASK_STATUS_PENDING;
  if (text == "queued") return gw::TASK_STATUS_QUEUED;
  if (text == "indexing") return gw::TASK_STATUS_INDEXING;
  if (text == "ready") return gw::TASK_STATUS_READY;
  if (text == "failed") return gw::TASK_STATUS_FAILED;
  return gw::TASK_STATUS_OTHER;
}

std::string TaskStatusText(gw::TaskStatus status) {
  switch (status) {
    case gw::TASK_STATUS_UPLOADING: return "uploading";
    case gw::TASK_STATUS_VALIDATING: return "validating";
    case gw::TASK_STATUS_PENDING: return "pending";
    case gw::TASK_STATUS_QUEUED: return "queued";
    case gw::TASK_STATUS_INDEXING: return "indexing";
    case gw::TASK_STATUS_READY: return "ready";
    case gw::TASK_STATUS_FAILED: return "failed";
    default: return "";
  }
}

bool IsTerminal(gw::TaskStatus status) {
  return status == gw::TASK_STATUS_READY || status == gw::TASK_STATUS_FAILED;
}

absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view text) {
  google::protobuf::Timestamp fast;
  if (ParseApiTime(text, &fast)) return fast;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("not an RFC 3339 time: ", err));
  }
  google::protobuf::Timestamp ts;
  int64_t ns = absl::ToUnixNanos(t);
  int64_t secs = ns / 1000000000;
  int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --secs;
  }
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>(rem));
  return ts;
}

std::string FormatRfc3339(const google::protobuf::Timestamp& ts) {
  absl::Time t = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<gw::Task> ParseTask(absl::string_view body, ApiVersion version) {
  TaskSlots slots;
  if (absl::Status s = ParseEvents(body, "task", &slots, nullptr); !s.ok()) return s;
  gw::Task task;
  std::string error;
  if (!TaskFromSlots(slots, version, "", &task, &error)) return MalformedResponse("task", error);
  return task;
}

absl::StatusOr<CreatedTask> ParseCreatedTask(absl::string_view body) {
  auto j = ParseObject(body, "created task");
  if (!j.ok()) return j.status();
  Reader r(*j, "");
  CreatedTask out;
  if (!r.String("_id", &out.id) && r.ok()) r.SetError("_id is missing");
  r.String("video_id", &out.video_id);
  if (!r.ok()) return MalformedResponse("created task", r.error());
  return out;
}

absl::StatusOr<TaskPage> ParseTaskPage(absl::string_view body, ApiVersion version) {
  PageSlots slots;
  if (absl::Status s = ParseEvents(body, "task list", nullptr, &slots); !s.ok()) return s;
  SlotReader r("");
  TaskPage page;
  if (!r.Array("data", slots.data) && r.ok()) r.SetError("data is missing");
  if (slots.data.kind == Kind::kArray) {
    for (size_t i = 0; i < slots.items.size(); ++i) {
      TaskItem& item = slots.items[i];
      gw::Task* task = page.tasks.add_tasks();
      std::string path = absl::StrCat("data[", i, "].");
      std::string error;
      if (item.kind != Kind::kObject) {
        error = absl::StrCat(path, " should be an object but is ", KindName(item.kind));
      } else if (TaskFromSlots(item.slots, version, path, task, &error)) {
        continue;
      }
      return MalformedResponse("task list", error);
    }
  }
  if (r.Object("page_info", slots.page_info)) {
    SlotReader p("page_info.");
    int64_t v = 0;
    if (p.Int("total_results", slots.total_results, &v)) page.tasks.set_total_size(v);
    p.Int("page", slots.page, &page.page);
    p.Int("total_page", slots.total_page, &page.total_pages);
    r.Absorb(p);
  }
  if (!r.ok()) return MalformedResponse("task list", r.error());
  return page;
}

absl::StatusOr<gw::IndexTaskCounts> ParseIndexTaskCounts(absl::string_view body) {
  auto j = ParseObject(body, "task counts");
  if (!j.ok()) return j.status();
  gw::IndexTaskCounts counts;
  Reader r(*j, "");
  r.String("index_id", counts.mutable_index_id());
  for (const auto& [key, value] : j->items()) {
    if (key == "index_id" || value.is_null()) continue;
    if (!value.is_number()) {
      r.SetError(absl::StrCat(key, " should be a number but is ", value.type_name()));
      continue;
    }
    // A count too large for int64 (or, written as a float, too large to
    // convert without undefined behaviour) is an error, like any bad field.
    int64_t n = 0;
    if (value.is_number_integer() && !value.is_number_unsigned()) {
      n = value.get<int64_t>();
    } else if (value.is_number_unsigned() &&
               value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
      n = static_cast<int64_t>(value.get<uint64_t>());
    } else if (value.is_number_float() && std::isfinite(value.get<double>()) &&
               std::fabs(value.get<double>()) <= 9.0e15) {
      n = static_cast<int64_t>(value.get<double>());
    } else {
      r.SetError(absl::StrCat(key, " should be an integer but is out of range"));
      continue;
    }
    std::string name = key == "total_result" || key == "total_results" ? "total" : key;
    (*counts.mutable_counts())[name] = n;
    if (name == "ready") counts.set_ready(n);
    if (name == "validating") counts.set_validating(n);
    if (name == "pending") counts.set_pending(n);
    if (name == "failed") counts.set_failed(n);
    if (name == "total") counts.set_total(n);
  }
  if (!r.ok()) return MalformedResponse("task counts", r.error());
  return counts;
}

absl::StatusOr<gw::ImportVideosResponse> ParseImportVideos(absl::string_view body) {
  auto j = ParseObject(body, "import");
  if (!j.ok()) return j.status();
  gw::ImportVideosResponse out;
  Reader r(*j, "");
  if (const json* videos = r.Array("videos")) {
    for (size_t i = 0; i < videos->size(); ++i) {
      Reader v((*videos)[i], absl::StrCat("videos[", i, "]."));
      auto* video = out.add_videos();
      v.String("video_id", video->mutable_video_id());
      v.String("filename", video->mutable_filename());
      r.Absorb(v);
    }
  }
  if (const json* failed = r.Array("failed_files")) {
    for (size_t i = 0; i < failed->size(); ++i) {
      ReadFailedFile(r, (*failed)[i], absl::StrCat("failed_files[", i, "]."), out.add_failed_files());
    }
  }
  if (!r.ok()) return MalformedResponse("import", r.error());
  return out;
}

absl::StatusOr<gw::ImportStatus> ParseImportStatus(absl::string_view body) {
  auto j = ParseObject(body, "import status");
  if (!j.ok()) return j.status();
  gw::ImportStatus out;
  Reader r(*j, "");
  if (const json* names = r.Array("not_imported")) {
    for (const json& n : *names) {
      if (n.is_string()) out.add_not_imported(n.get<std::string>());
      // Newer shapes may send objects; keep their filename.
      else if (n.is_object() && n.contains("filename") && n["filename"].is_string())
        out.add_not_imported(n["filename"].get<std::string>());
    }
  }
  auto group = [&r](const char* key, google::protobuf::RepeatedPtrField<gw::ImportVideoItem>* items) {
    const json* list = r.Array(key);
    if (list == nullptr) return;
    for (size_t i = 0; i < list->size(); ++i) {
      Reader v((*list)[i], absl::StrCat(key, "[", i, "]."));
      auto* item = items->Add();
      v.String("video_id", item->mutable_video_id());
      v.String("filename", item->mutable_filename());
      v.Time("created_at", [&](const auto& t) { *item->mutable_create_time() = t; });
      r.Absorb(v);
    }
  };
  group("validating", out.mutable_validating());
  group("pending", out.mutable_pending());
  group("queued", out.mutable_queued());
  group("indexing", out.mutable_indexing());
  group("ready", out.mutable_ready());
  if (const json* failed = r.Array("failed")) {
    for (size_t i = 0; i < failed->size(); ++i) {
      ReadFailedFile(r, (*failed)[i], absl::StrCat("failed[", i, "]."), out.add_failed());
    }
  }
  if (!r.ok()) return MalformedResponse("import status", r.error());
  return out;
}

absl::StatusOr<gw::ListImportLogsResponse> ParseImportLogs(absl::string_view body) {
  auto j = ParseObject(body, "import logs");
  if (!j.ok()) return j.status();
  gw::ListImportLogsResponse out;
  Reader r(*j, "");
  if (const json* data = r.Array("data")) {
    for (size_t i = 0; i < data->size(); ++i) {
      std::string path = absl::StrCat("data[", i, "].");
      Reader l((*data)[i], path);
      gw::ImportLog* log = out.add_logs();
      l.String("index_id", log->mutable_index_id());
      l.String("index_name", log->mutable_index_name());
      l.Time("created_at", [&](const auto& t) { *log->mutable_create_time() = t; });
      l.Time("ended_at", [&](const auto& t) { *log->mutable_end_time() = t; });
      if (const json* vs = l.Object("video_status")) {
        Reader s(*vs, path + "video_status.");
        auto* c = log->mutable_video_status();
        int64_t n = 0;
        if (s.Int("ready", &n)) c->set_ready(n);
        if (s.Int("validating", &n)) c->set_validating(n);
        if (s.Int("queued", &n)) c->set_queued(n);
        if (s.Int("pending", &n)) c->set_pending(n);
        if (s.Int("indexing", &n)) c->set_indexing(n);
        if (s.Int("failed", &n)) c->set_failed(n);
        l.Absorb(s);
      }
      if (const json* failed = l.Array("failed_files")) {
        for (size_t k = 0; k < failed->size(); ++k) {
          ReadFailedFile(l, (*failed)[k], absl::StrCat(path, "failed_files[", k, "]."),
                         log->add_failed_files());
        }
      }
      r.Absorb(l);
    }
  }
  if (!r.ok()) return MalformedResponse("import logs", r.error());
  return out;
}

absl::StatusOr<std::string> UserMetadataJson(const google::protobuf::Struct& metadata,
                                             absl::string_view field) {
  json out = json::object();
  for (const auto& [key, value] : metadata.fields()) {
    switch (value.kind_case()) {
      case google::protobuf::Value::kStringValue: out[key] = value.string_value(); break;
      case google::protobuf::Value::kBoolValue: out[key] = value.bool_value(); break;
      case google::protobuf::Value::kNumberValue: {
        double d = value.number_value();
        if (!std::isfinite(d)) {
          return FieldError(absl::StrCat(field, ".", key), "must be a finite number");
        }
        // Whole numbers go as integers, as the API's examples write them.
        if (std::fabs(d) < 9.0e15 && d == std::floor(d)) out[key] = static_cast<int64_t>(d);
        else out[key] = d;
        break;
      }
      default:
        return FieldError(absl::StrCat(field, ".", key),
                          "values must be strings, numbers or booleans (no nulls, lists or objects)");
    }
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---- Assets and indexed assets ---------------------------------------------
// Tree-based, like imports: these are read far less often than tasks, so
// the event parser's speed is not worth its size here.

namespace {

void JsonToValue(const json& j, google::protobuf::Value* out);

void JsonToStruct(const json& j, google::protobuf::Struct* out) {
  for (const auto& [key, value] : j.items()) JsonToValue(value, &(*out->mutable_fields())[key]);
}

void JsonToValue(const json& j, google::protobuf::Value* out) {
  if (j.is_object()) {
    JsonToStruct(j, out->mutable_struct_value());
  } else if (j.is_array()) {
    auto* list = out->mutable_list_value();
    for (const json& item : j) JsonToValue(item, list->add_values());
  } else if (j.is_string()) {
    out->set_string_value(j.get<std::string>());
  } else if (j.is_boolean()) {
    out->set_bool_value(j.get<bool>());
  } else if (j.is_number()) {
    out->set_number_value(j.get<double>());
  } else {
    out->set_null_value(google::protobuf::NULL_VALUE);
  }
}

// user_metadata comes back as an object; it is sent as a string holding
// one (§9.1), so a string holding an object is accepted as well. Calls
// `out()` (a mutable_*() accessor) only when present, so an absent member
// leaves the message field unset.
template <typename Out>
void ReadUserMetadata(Reader& r, const char* key, Out out) {
  const json* v = r.Find(key);
  if (v == nullptr) return;
  if (v->is_object()) {
    JsonToStruct(*v, out());
    return;
  }
  if (v->is_string()) {
    const std::string& text = v->get_ref<const std::string&>();
    json inner = json::parse(text, nullptr, false);
    if (!inner.is_discarded() && inner.is_object()) {
      JsonToStruct(inner, out());
      return;
    }
  }
  r.SetError(absl::StrCat(r.Path(key), " should be an object but is ", v->type_name()));
}

gw::AssetMediaStatus AssetMediaStatusFromText(absl::string_view text) {
  if (text == "pending") return gw::ASSET_MEDIA_STATUS_PENDING;
  if (text == "processing") return gw::ASSET_MEDIA_STATUS_PROCESSING;
  if (text == "ready") return gw::ASSET_MEDIA_STATUS_READY;
  if (text == "error") return gw::ASSET_MEDIA_STATUS_ERROR;
  return gw::ASSET_MEDIA_STATUS_OTHER;
}

gw::AssetMethod AssetMethodFromText(absl::string_view text) {
  if (text == "direct") return gw::ASSET_METHOD_DIRECT;
  if (text == "url") return gw::ASSET_METHOD_URL;
  if (text == "multipart") return gw::ASSET_METHOD_MULTIPART;
  return gw::ASSET_METHOD_OTHER;
}

void ReadTechnicalMetadata(Reader& parent, const json& j, gw::TechnicalMetadata* out) {
  Reader r(j, parent.Path("technical_metadata."));
  int64_t i = 0;
  double d = 0;
  bool b = false;
  if (r.Int("video_width", &i)) out->set_video_width(static_cast<int32_t>(i));
  if (r.Int("video_height", &i)) out->set_video_height(static_cast<int32_t>(i));
  if (r.Number("video_fps", &d)) out->set_video_fps(d);
  r.String("video_codec", out->mutable_video_codec());
  if (r.Number("video_duration_seconds", &d)) out->set_video_duration_seconds(d);
  if (r.Bool("has_audio", &b)) out->set_has_audio(b);
  if (r.Number("duration_seconds", &d)) out->set_duration_seconds(d);
  r.String("audio_codec", out->mutable_audio_codec());
  if (r.Int("audio_sample_rate", &i)) out->set_audio_sample_rate(static_cast<int32_t>(i));
  if (r.Int("image_width", &i)) out->set_image_width(static_cast<int32_t>(i));
  if (r.Int("image_height", &i)) out->set_image_height(static_cast<int32_t>(i));
  JsonToStruct(j, out->mutable_all());
  parent.Absorb(r);
}

bool AssetFromJson(const json& j, const std::string& path, gw::Asset* a, std::string* error) {
  Reader r(j, path);
  if (!j.is_object()) {
    *error = absl::StrCat(path, " should be an object but is ", j.type_name());
    return false;
  }
  if (!r.String("_id", a->mutable_id()) && r.ok()) r.SetError(r.Path("_id") + " is missing");
  if (r.String("method", a->mutable_method_text())) a->set_method(AssetMethodFromText(a->method_text()));
  if (r.String("status", a->mutable_status_text())) a->set_status(AssetStatusFromText(a->status_text()));
  r.String("filename", a->mutable_filename());
  r.String("file_type", a->mutable_file_type());
  r.Time("created_at", [&](const auto& t) { *a->mutable_create_time() = t; });
  ReadUserMetadata(r, "user_metadata", [a] { return a->mutable_user_metadata(); });
  if (const json* hls = r.Object("hls")) {
    Reader h(*hls, r.Path("hls."));
    gw::AssetHls* out = a->mutable_hls();
    h.String("manifest_url", out->mutable_manifest_url());
    if (h.String("status", out->mutable_status_text())) {
      out->set_status(AssetMediaStatusFromText(out->status_text()));
    }
    r.Absorb(h);
  }
  if (const json* thumb = r.Object("thumbnail")) {
    Reader t(*thumb, r.Path("thumbnail."));
    gw::AssetThumbnail* out = a->mutable_thumbnail();
    t.String("representative_url", out->mutable_representative_url());
    if (t.String("status", out->mutable_status_text())) {
      out->set_status(AssetMediaStatusFromText(out->status_text()));
    }
    r.Absorb(t);
  }
  int64_t size = 0;
  if (r.Int("size", &size)) a->set_size_bytes(size);
  double duration = 0;
  if (r.Number("duration", &duration)) a->set_duration_seconds(duration);
  if (const json* tech = r.Object("technical_metadata")) {
    ReadTechnicalMetadata(r, *tech, a->mutable_technical_metadata());
  }
  if (const json* err = r.Object("error")) {
    Reader e(*err, r.Path("error."));
    e.String("message", a->mutable_error_message());
    r.Absorb(e);
  }
  if (!r.ok()) {
    *error = r.error();
    return false;
  }
  return true;
}

bool IndexedAssetFromJson(const json& j, const std::string& path, const std::string& index_id,
                          gw::IndexedAsset* a, std::string* error) {
  if (!j.is_object()) {
    *error = absl::StrCat(path, " should be an object but is ", j.type_name());
    return false;
  }
  Reader r(j, path);
  if (!r.String("_id", a->mutable_id()) && r.ok()) r.SetError(r.Path("_id") + " is missing");
  if (index_id.empty()) {
    r.String("index_id", a->mutable_index_id());  // lists across indexes name it per item
  } else {
    a->set_index_id(index_id);
  }
  r.String("asset_id", a->mutable_asset_id());
  if (r.String("status", a->mutable_status_text())) {
    a->set_status(IndexedAssetStatusFromText(a->status_text()));
  }
  r.Time("created_at", [&](const auto& t) { *a->mutable_create_time() = t; });
  r.Time("updated_at", [&](const auto& t) { *a->mutable_update_time() = t; });
  r.Time("indexed_at", [&](const auto& t) { *a->mutable_index_time() = t; });
  if (const json* meta = r.Object("system_metadata")) {
    Reader m(*meta, r.Path("system_metadata."));
    gw::IndexedAssetMetadata* out = a->mutable_system_metadata();
    double d = 0;
    int64_t i = 0;
    m.String("filename", out->mutable_filename());
    if (m.Number("duration", &d)) out->set_duration_seconds(d);
    if (m.Number("fps", &d)) out->set_fps(d);
    if (m.Int("width", &i)) out->set_width(static_cast<int32_t>(i));
    if (m.Int("height", &i)) out->set_height(static_cast<int32_t>(i));
    if (m.Int("size", &i)) out->set_size_bytes(i);
    r.Absorb(m);
  }
  ReadUserMetadata(r, "user_metadata", [a] { return a->mutable_user_metadata(); });
  if (const json* hls = r.Object("hls")) {
    Reader h(*hls, r.Path("hls."));
    gw::HlsInfo* out = a->mutable_hls();
    h.String("video_url", out->mutable_video_url());
    if (const json* thumbs = h.Array("thumbnail_urls")) {
      for (const json& t : *thumbs) {
        if (t.is_string()) out->add_thumbnail_urls(t.get<std::string>());
      }
    }
    if (h.String("status", out->mutable_status_text())) {
      out->set_status(HlsStatusFromText(out->status_text()));
    }
    h.Time("updated_at", [&](const auto& t) { *out->mutable_update_time() = t; });
    r.Absorb(h);
  }
  if (!r.ok()) {
    *error = r.error();
    return false;
  }
  return true;
}

// `{"data":[...],"page_info":{...}}`: calls `item` for each element of data.
template <typename Item>
absl::Status ReadPage(const json& j, absl::string_view what, int64_t* total, int64_t* page,
                      int64_t* total_pages, Item item) {
  Reader r(j, "");
  const json* data = r.Array("data");
  if (data == nullptr && r.ok()) r.SetError("data is missing");
  if (data != nullptr) {
    for (size_t i = 0; i < data->size(); ++i) {
      std::string error;
      if (!item((*data)[i], absl::StrCat("data[", i, "]."), &error)) return MalformedResponse(what, error);
    }
  }
  if (const json* info = r.Object("page_info")) {
    Reader p(*info, "page_info.");
    p.Int("total_results", total);
    p.Int("page", page);
    p.Int("total_page", total_pages);
    r.Absorb(p);
  }
  if (!r.ok()) return MalformedResponse(what, r.error());
  return absl::OkStatus();
}

}  // namespace

gw::AssetStatus AssetStatusFromText(absl::string_view text) {
  if (text == "processing") return gw::ASSET_STATUS_PROCESSING;
  if (text == "ready") return gw::ASSET_STATUS_READY;
  if (text == "failed") return gw::ASSET_STATUS_FAILED;
  return gw::ASSET_STATUS_OTHER;
}

std::string AssetStatusText(gw::AssetStatus status) {
  switch (status) {
    case gw::ASSET_STATUS_PROCESSING: return "processing";
    case gw::ASSET_STATUS_READY: return "ready";
    case gw::ASSET_STATUS_FAILED: return "failed";
    default: return "";
  }
}

bool IsTerminal(gw::AssetStatus status) {
  return status == gw::ASSET_STATUS_READY || status == gw::ASSET_STATUS_FAILED;
}

gw::IndexedAssetStatus IndexedAssetStatusFromText(absl::string_view text) {
  if (text == "pending") return gw::INDEXED_ASSET_STATUS_PENDING;
  if (text == "queued") return gw::INDEXED_ASSET_STATUS_QUEUED;
  if (text == "indexing") return gw::INDEXED_ASSET_STATUS_INDEXING;
  if (text == "ready") return gw::INDEXED_ASSET_STATUS_READY;
  if (text == "failed") return gw::INDEXED_ASSET_STATUS_FAILED;
  return gw::INDEXED_ASSET_STATUS_OTHER;
}

std::string IndexedAssetStatusText(gw::IndexedAssetStatus status) {
  switch (status) {
    case gw::INDEXED_ASSET_STATUS_PENDING: return "pending";
    case gw::INDEXED_ASSET_STATUS_QUEUED: return "queued";
    case gw::INDEXED_ASSET_STATUS_INDEXING: return "indexing";
    case gw::INDEXED_ASSET_STATUS_READY: return "ready";
    case gw::INDEXED_ASSET_STATUS_FAILED: return "failed";
    default: return "";
  }
}

bool IsTerminal(gw::IndexedAssetStatus status) {
  return status == gw::INDEXED_ASSET_STATUS_READY || status == gw::INDEXED_ASSET_STATUS_FAILED;
}

std::string AssetTypeText(gw::AssetType type) {
  switch (type) {
    case gw::ASSET_TYPE_IMAGE: return "image";
    case gw::ASSET_TYPE_VIDEO: return "video";
    case gw::ASSET_TYPE_AUDIO: return "audio";
    default: return "";
  }
}

absl::StatusOr<gw::Asset> ParseAsset(absl::string_view body) {
  auto j = ParseObject(body, "asset");
  if (!j.ok()) return j.status();
  gw::Asset out;
  std::string error;
  if (!AssetFromJson(*j, "", &out, &error)) return MalformedResponse("asset", error);
  return out;
}

absl::StatusOr<AssetPage> ParseAssetPage(absl::string_view body) {
  auto j = ParseObject(body, "asset list");
  if (!j.ok()) return j.status();
  AssetPage page;
  int64_t total = 0;
  absl::Status s = ReadPage(*j, "asset list", &total, &page.page, &page.total_pages,
                            [&](const json& item, const std::string& path, std::string* error) {
                              return AssetFromJson(item, path, page.assets.add_assets(), error);
                            });
  if (!s.ok()) return s;
  page.assets.set_total_size(total);
  return page;
}

absl::StatusOr<gw::IndexedAsset> ParseIndexedAsset(absl::string_view body,
                                                   const std::string& index_id) {
  auto j = ParseObject(body, "indexed asset");
  if (!j.ok()) return j.status();
  gw::IndexedAsset out;
  std::string error;
  if (!IndexedAssetFromJson(*j, "", index_id, &out, &error)) {
    return MalformedResponse("indexed asset", error);
  }
  return out;
}

absl::StatusOr<IndexedAssetPage> ParseIndexedAssetPage(absl::string_view body,
                                                       const std::string& index_id) {
  auto j = ParseObject(body, "indexed asset list");
  if (!j.ok()) return j.status();
  IndexedAssetPage page;
  int64_t total = 0;
  absl::Status s = ReadPage(
      *j, "indexed asset list", &total, &page.page, &page.total_pages,
      [&](const json& item, const std::string& path, std::string* error) {
        return IndexedAssetFromJson(item, path, index_id, page.indexed_assets.add_indexed_assets(),
                                    error);
      });
  if (!s.ok()) return s;
  page.indexed_assets.set_total_size(total);
  return page;
}

absl::StatusOr<CreatedIndexedAsset> ParseCreatedIndexedAsset(absl::string_view body) {
  auto j = ParseObject(body, "created indexed asset");
  if (!j.ok()) return j.status();
  Reader r(*j, "");
  CreatedIndexedAsset out;
  if (!r.String("_id", &out.id) && r.ok()) r.SetError("_id is missing");
  r.String("asset_id", &out.asset_id);
  if (!r.ok()) return MalformedResponse("created indexed asset", r.error());
  return out;
}

}  // namespace tlgw
