#include "server/watch/fanout.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

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

namespace {

void DeliverAll(const std::vector<Outbox::Delivery>& deliveries) {
  for (const auto& d : deliveries) {
    if (d.event != nullptr) {
      d.sink->OnEvent(d.event);
    } else {
      d.sink->OnError(d.error);
    }
  }
}

}  // namespace

void Outbox::Deliver() {
  DeliverAll(deliveries);
  deliveries.clear();
}

void Outbox::DeliverOn(Executor& executor) {
  if (deliveries.empty()) return;
  executor.Run([deliveries = std::move(deliveries)] { DeliverAll(deliveries); });
  deliveries.clear();  // moved-from: make it surely empty
}

void ArmPollTimer(Scheduler& scheduler, PollBudget& budget, absl::Duration delay,
                  absl::AnyInvocable<bool(bool start)> on_timer) {
  Scheduler* s = &scheduler;
  PollBudget* b = &budget;
  scheduler.RunAfter(delay, [s, b, on_timer = std::move(on_timer)](bool cancelled) mutable {
    if (cancelled || !on_timer(false)) return;
    const absl::Time now = absl::Now();
    const absl::Time slot = b->Reserve(now);
    if (slot <= now) {
      on_timer(true);
      return;
    }
    s->RunAfter(slot - now, [on_timer = std::move(on_timer)](bool cancelled) mutable {
      if (!cancelled) on_timer(true);
    });
  });
}

}  // namespace tlgw
