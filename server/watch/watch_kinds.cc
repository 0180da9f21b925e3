#include "server/watch/watch_kinds.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/twelvelabs/json_mapping.h"

namespace tlgw {

namespace gw = ::twelvelabs::gateway::v1;

gw::TaskEvent MakeTaskEvent(const gw::Task& task, int64_t sequence, gw::EventSource source,
                            absl::Time now) {
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

bool ImportDone(const gw::ImportStatus& s) {
  return s.validating_size() == 0 && s.pending_size() == 0 && s.queued_size() == 0 &&
         s.indexing_size() == 0;
}

namespace {

WatchItem TaskItem(gw::Task task) {
  WatchItem item;
  item.id = task.id();
  item.fingerprint = TaskFingerprint(task);
  item.terminal = IsTerminal(task.status());
  item.value = std::make_shared<const gw::Task>(std::move(task));
  return item;
}

const gw::Task& TaskOf(const WatchItem& item) { return static_cast<const gw::Task&>(*item.value); }

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// The value of `bytes` as a `M`, or null.
template <typename M>
std::shared_ptr<const google::protobuf::Message> Parse(const std::string& bytes) {
  auto m = std::make_shared<M>();
  if (!m->ParseFromString(bytes)) return nullptr;
  return m;
}

}  // namespace

std::shared_ptr<const google::protobuf::Message> TaskEventKind::ParseValue(const std::string& bytes) const {
  return Parse<gw::Task>(bytes);
}
std::shared_ptr<const google::protobuf::Message> ImportWatchKind::ParseValue(const std::string& bytes) const {
  return Parse<gw::ImportStatus>(bytes);
}
std::shared_ptr<const google::protobuf::Message> AssetWatchKind::ParseValue(const std::string& bytes) const {
  return Parse<gw::Asset>(bytes);
}
std::shared_ptr<const google::protobuf::Message> IndexedAssetWatchKind::ParseValue(
    const std::string& bytes) const {
  return Parse<gw::IndexedAsset>(bytes);
}

// ---- One task ---------------------------------------------------------------

void TaskWatchKind::Fetch(const std::string& task_id, const std::string&, const CallOptions& opts,
                          absl::AnyInvocable<void(absl::StatusOr<Read>)> done) {
  api_->GetTask(opts, task_id, [done = std::move(done)](absl::StatusOr<gw::Task> task) mutable {
    if (!task.ok()) {
      done(task.status());
      return;
    }
    Read read;
    read.items.push_back(TaskItem(*std::move(task)));
    done(std::move(read));
  });
}

std::shared_ptr<const google::protobuf::Message> TaskEventKind::MakeEvent(
    const WatchItem& item, int64_t sequence, gw::EventSource source, absl::Time now) const {
  return std::make_shared<const gw::TaskEvent>(MakeTaskEvent(TaskOf(item), sequence, source, now));
}

absl::Duration TaskWatchKind::NextInterval(const WatchOptions& options,
                                           const std::vector<const WatchItem*>& items, int failures,
                                           bool webhooks_active, absl::Time now) const {
  static const gw::Task kUnknown;
  const gw::Task& task = items.empty() ? kUnknown : TaskOf(*items.front());
  return NextPollInterval(options, task, failures, webhooks_active, now);
}

std::optional<WatchItem> TaskWatchKind::FromWebhook(const WatchItem& known,
                                                    const std::string& status) const {
  if (status.empty()) return std::nullopt;
  gw::Task merged = TaskOf(known);
  merged.set_status_text(status);
  merged.set_status(TaskStatusFromText(status));
  return TaskItem(std::move(merged));
}

// ---- The tasks of an index ---------------------------------------------------

namespace {
constexpr int kPageLimit = 50;  // the most the API serves per page
}  // namespace

struct IndexWatchKind::Poll {
  std::string index_id;
  CallOptions opts;
  bool first;              // no cursor: read every page (up to the cap)
  absl::Time high_water;   // the newest update seen before this poll
  int page = 1;
  Read read;
  absl::AnyInvocable<void(absl::StatusOr<Read>)> done;
};

void IndexWatchKind::Fetch(const std::string& index_id, const std::string& cursor,
                           const CallOptions& opts,
                           absl::AnyInvocable<void(absl::StatusOr<Read>)> done) {
  auto poll = std::make_shared<Poll>();
  poll->index_id = index_id;
  poll->opts = opts;
  int64_t micros = 0;
  poll->first = cursor.empty() || !absl::SimpleAtoi(cursor, &micros);
  poll->high_water = poll->first ? absl::InfinitePast() : absl::FromUnixMicros(micros);
  poll->done = std::move(done);
  FetchPage(std::move(poll));
}

void IndexWatchKind::FetchPage(std::shared_ptr<Poll> poll) {
  gw::ListTasksRequest req;
  req.set_index_id(poll->index_id);
  req.set_sort_by(gw::TASK_SORT_FIELD_UPDATE_TIME);
  req.set_sort_order(gw::SORT_ORDER_DESCENDING);
  CallOptions opts = poll->opts;
  int page = poll->page;
  api_->ListTasks(opts, req, page, kPageLimit, [this, poll](absl::StatusOr<TaskPage> r) mutable {
    if (!r.ok()) {
      poll->done(r.status());
      return;
    }
    for (auto& t : *r->tasks.mutable_tasks()) poll->read.items.push_back(TaskItem(std::move(t)));
    // Read on while this page may still hold unseen changes: all pages the
    // first time (up to the cap), later only while tasks are newer than
    // what was seen.
    bool more = poll->page < r->total_pages && poll->page < max_pages_ && r->tasks.tasks_size() > 0;
    if (more && !poll->first && !poll->read.items.empty() &&
        TimeOf(TaskOf(poll->read.items.back()).update_time()) < poll->high_water) {
      more = false;
    }
    if (more) {
      ++poll->page;
      FetchPage(std::move(poll));
      return;
    }
    absl::Time newest = poll->high_water;
    for (const auto& item : poll->read.items) newest = std::max(newest, TimeOf(TaskOf(item).update_time()));
    poll->read.cursor = newest == absl::InfinitePast() ? std::string("0")
                                                       : absl::StrCat(absl::ToUnixMicros(newest));
    poll->done(std::move(poll->read));
  });
}

// ---- An import ---------------------------------------------------------------

std::string ImportWatchKind::Subject(const std::string& integration_id, const std::string& index_id) {
  return absl::StrCat(integration_id, "/", index_id);
}

void ImportWatchKind::Fetch(const std::string& subject, const std::string&, const CallOptions& opts,
                            absl::AnyInvocable<void(absl::StatusOr<Read>)> done) {
  size_t slash = subject.find('/');
  std::string integration_id = subject.substr(0, slash);
  std::string index_id = slash == std::string::npos ? "" : subject.substr(slash + 1);
  api_->GetImportStatus(opts, integration_id, index_id,
                        [subject, done = std::move(done)](absl::StatusOr<gw::ImportStatus> s) mutable {
                          if (!s.ok()) {
                            done(s.status());
                            return;
                          }
                          WatchItem item;
                          item.id = subject;
                          item.fingerprint = s->SerializeAsString();
                          item.terminal = ImportDone(*s);
                          item.value = std::make_shared<const gw::ImportStatus>(*std::move(s));
                          Read read;
                          read.items.push_back(std::move(item));
                          done(std::move(read));
                        });
}

std::shared_ptr<const google::protobuf::Message> ImportWatchKind::MakeEvent(
    const WatchItem& item, int64_t sequence, gw::EventSource, absl::Time) const {
  auto event = std::make_shared<gw::ImportStatusEvent>();
  *event->mutable_status() = static_cast<const gw::ImportStatus&>(*item.value);
  event->set_sequence(sequence);
  event->set_done(item.terminal);
  return event;
}

// ---- Assets and indexed assets ----------------------------------------------

namespace {

void SetObserveTime(google::protobuf::Timestamp* ts, absl::Time now) {
  int64_t us = absl::ToUnixMicros(now);
  ts->set_seconds(us / 1000000);
  ts->set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
}

}  // namespace

void AssetWatchKind::Fetch(const std::string& asset_id, const std::string&, const CallOptions& opts,
                           absl::AnyInvocable<void(absl::StatusOr<Read>)> done) {
  api_->GetAsset(opts, asset_id, [done = std::move(done)](absl::StatusOr<gw::Asset> a) mutable {
    if (!a.ok()) {
      done(a.status());
      return;
    }
    WatchItem item;
    item.id = a->id();
    // A change worth an event: status, HLS, thumbnail, size or error (the
    // technical metadata arrives with ready).
    item.fingerprint = absl::StrCat(a->status_text(), "|", a->hls().status_text(), "|",
                                    a->thumbnail().status_text(), "|", a->size_bytes(), "|",
                                    a->error_message());
    item.terminal = a->status() == gw::ASSET_STATUS_READY || a->status() == gw::ASSET_STATUS_FAILED;
    item.value = std::make_shared<const gw::Asset>(*std::move(a));
    Read read;
    read.items.push_back(std::move(item));
    done(std::move(read));
  });
}

absl::Duration AssetPollInterval(const WatchOptions& o, absl::Time last_change, int failures,
                                 absl::Time now) {
  absl::Duration d = o.base_interval;
  if (last_change != absl::InfinitePast()) {
    const absl::Duration quiet = now - last_change;
    if (quiet < absl::Minutes(1)) {
      d = o.base_interval / 2;
    } else if (quiet >= absl::Minutes(10)) {
      d = o.base_interval * 4;
    }
  }
  d = std::clamp(d, o.min_interval, o.max_interval);
  for (int i = 0; i < failures && d < o.max_interval; ++i) d *= 2;
  return std::min(d, o.max_interval);
}

absl::Duration AssetWatchKind::NextInterval(const WatchOptions& options,
                                            const std::vector<const WatchItem*>& items,
                                            int failures, bool, absl::Time now) const {
  absl::Time last_change = absl::InfinitePast();
  if (!items.empty() && items.front()->value != nullptr) {
    const auto& a = static_cast<const gw::Asset&>(*items.front()->value);
    if (a.has_create_time()) last_change = TimeOf(a.create_time());
  }
  return AssetPollInterval(options, last_change, failures, now);
}

absl::Duration IndexedAssetWatchKind::NextInterval(const WatchOptions& options,
                                                   const std::vector<const WatchItem*>& items,
                                                   int failures, bool, absl::Time now) const {
  absl::Time last_change = absl::InfinitePast();
  if (!items.empty() && items.front()->value != nullptr) {
    const auto& ia = static_cast<const gw::IndexedAsset&>(*items.front()->value);
    if (ia.has_update_time()) {
      last_change = TimeOf(ia.update_time());
    } else if (ia.has_create_time()) {
      last_change = TimeOf(ia.create_time());
    }
  }
  return AssetPollInterval(options, last_change, failures, now);
}

std::shared_ptr<const google::protobuf::Message> AssetWatchKind::MakeEvent(
    const WatchItem& item, int64_t sequence, gw::EventSource source, absl::Time now) const {
  auto event = std::make_shared<gw::AssetEvent>();
  *event->mutable_asset() = static_cast<const gw::Asset&>(*item.value);
  event->set_sequence(sequence);
  event->set_source(source);
  SetObserveTime(event->mutable_observe_time(), now);
  return event;
}

std::string IndexedAssetWatchKind::Subject(const std::string& index_id, const std::string& indexed_asset_id) {
  return absl::StrCat(index_id, "/", indexed_asset_id);
}

void IndexedAssetWatchKind::Fetch(const std::string& subject, const std::string&, const CallOptions& opts,
                                  absl::AnyInvocable<void(absl::StatusOr<Read>)> done) {
  const size_t slash = subject.find('/');
  const std::string index_id = subject.substr(0, slash);
  const std::string id = slash == std::string::npos ? "" : subject.substr(slash + 1);
  api_->GetIndexedAsset(opts, index_id, id, [done = std::move(done)](absl::StatusOr<gw::IndexedAsset> ia) mutable {
    if (!ia.ok()) {
      done(ia.status());
      return;
    }
    WatchItem item;
    item.id = ia->id();
    item.fingerprint = absl::StrCat(ia->status_text(), "|", ia->hls().status_text(), "|",
                                    ia->index_time().seconds());
    item.terminal =
        ia->status() == gw::INDEXED_ASSET_STATUS_READY || ia->status() == gw::INDEXED_ASSET_STATUS_FAILED;
    item.value = std::make_shared<const gw::IndexedAsset>(*std::move(ia));
    Read read;
    read.items.push_back(std::move(item));
    done(std::move(read));
  });
}

std::shared_ptr<const google::protobuf::Message> IndexedAssetWatchKind::MakeEvent(
    const WatchItem& item, int64_t sequence, gw::EventSource source, absl::Time now) const {
  auto event = std::make_shared<gw::IndexedAssetEvent>();
  *event->mutable_indexed_asset() = static_cast<const gw::IndexedAsset&>(*item.value);
  event->set_sequence(sequence);
  event->set_source(source);
  SetObserveTime(event->mutable_observe_time(), now);
  return event;
}

}  // namespace tlgw
