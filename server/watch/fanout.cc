#include "server/watch/fanout.h"

#include "absl/strings/str_cat.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

gw::TaskEvent MakeTaskEvent(const gw::Task& task, int64_t sequence, gw::EventSource source, absl::Time now) {
  gw::TaskEvent event;
  *event.mutable_task() = task;
  event.set_sequence(sequence);
  event.set_source(source);
  int64_t us = absl::ToUnixMicros(now);
  event.mutable_observe_time()->set_seconds(us / 1000000);
  event.mutable_observe_time()->set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
  return event;
}

std::string TaskFingerprint(const gw::Task& t) {
  return absl::StrCat(t.status_text(), "|", t.has_progress() ? t.progress().percentage() : -1.0, "|",
                      t.estimated_time().seconds(), ".", t.estimated_time().nanos(), "|",
                      t.hls().status_text(), "|", t.video_id());
}

bool PermanentWatchError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

}  // namespace tlgw
