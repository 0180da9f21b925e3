// The kinds of watch the gateway serves, each only what differs from the
// others (watch_engine.h has what they share):
//  - TaskWatchKind: one task, `GET /tasks/{id}`; ends when the task is
//    ready or failed; a webhook's status stands in if its read fails.
//  - IndexWatchKind: the tasks of one index, `GET /tasks?index_id=` newest
//    update first, reading pages only until it reaches what it has seen;
//    never ends.
//  - ImportWatchKind: one integration's import into one index, `GET
//    .../import/{integration}/status`; ends when no file is in progress.
//  - AssetWatchKind: one asset, `GET /assets/{id}`; ends when it is ready
//    or failed.
//  - IndexedAssetWatchKind: one indexed asset, `GET /indexes/{index}/
//    indexed-assets/{id}`; ends when it is ready or failed.
//  Both poll on AssetPollInterval's schedule.
#ifndef TL_GATEWAY_SERVER_WATCH_WATCH_KINDS_H_
#define TL_GATEWAY_SERVER_WATCH_WATCH_KINDS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/twelvelabs/api.h"
#include "server/watch/watch_engine.h"
#include "twelvelabs/gateway/v1/asset_service.pb.h"
#include "twelvelabs/gateway/v1/integration_service.pb.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {

// Kinds whose items are tasks and whose events are TaskEvents.
class TaskEventKind : public WatchKind {
 public:
  std::shared_ptr<const google::protobuf::Message> MakeEvent(
      const WatchItem& item, int64_t sequence, twelvelabs::gateway::v1::EventSource source,
      absl::Time now) const override;
  std::shared_ptr<const google::protobuf::Message> ParseValue(const std::string& bytes) const override;
};

class TaskWatchKind : public TaskEventKind {
 public:
  explicit TaskWatchKind(TwelveLabsApi* api) : api_(api) {}  // not owned
  const char* name() const override { return "task"; }
  void Fetch(const std::string& task_id, const std::string& cursor, const CallOptions& opts,
             absl::AnyInvocable<void(absl::StatusOr<Read>)> done) override;
  absl::Duration NextInterval(const WatchOptions& options, const std::vector<const WatchItem*>& items,
                              int failures, bool webhooks_active, absl::Time now) const override;
  bool EndsWhenTerminal() const override { return true; }
  std::optional<WatchItem> FromWebhook(const WatchItem& known,
                                       const std::string& status) const override;

 private:
  TwelveLabsApi* const api_;
};

class IndexWatchKind : public TaskEventKind {
 public:
  // Reads at most `max_pages` pages of 50 tasks per poll.
  IndexWatchKind(TwelveLabsApi* api, int max_pages) : api_(api), max_pages_(max_pages) {}
  const char* name() const override { return "index"; }
  void Fetch(const std::string& index_id, const std::string& cursor, const CallOptions& opts,
             absl::AnyInvocable<void(absl::StatusOr<Read>)> done) override;
  bool EndsWhenTerminal() const override { return false; }

 private:
  struct Poll;
  void FetchPage(std::shared_ptr<Poll> poll);

  TwelveLabsApi* const api_;
  const int max_pages_;
};

class ImportWatchKind : public WatchKind {
 public:
  explicit ImportWatchKind(TwelveLabsApi* api) : api_(api) {}
  // The subject of an import watch.
  static std::string Subject(const std::string& integration_id, const std::string& index_id);
  const char* name() const override { return "import"; }
  void Fetch(const std::string& subject, const std::string& cursor, const CallOptions& opts,
             absl::AnyInvocable<void(absl::StatusOr<Read>)> done) override;
  std::shared_ptr<const google::protobuf::Message> MakeEvent(
      const WatchItem& item, int64_t sequence, twelvelabs::gateway::v1::EventSource source,
      absl::Time now) const override;
  std::shared_ptr<const google::protobuf::Message> ParseValue(const std::string& bytes) const override;
  bool EndsWhenTerminal() const override { return true; }

 private:
  TwelveLabsApi* const api_;
};

class AssetWatchKind : public WatchKind {
 public:
  explicit AssetWatchKind(TwelveLabsApi* api) : api_(api) {}  // not owned
  const char* name() const override { return "asset"; }
  void Fetch(const std::string& asset_id, const std::string& cursor, const CallOptions& opts,
             absl::AnyInvocable<void(absl::StatusOr<Read>)> done) override;
  std::shared_ptr<const google::protobuf::Message> MakeEvent(
      const WatchItem& item, int64_t sequence, twelvelabs::gateway::v1::EventSource source,
      absl::Time now) const override;
  absl::Duration NextInterval(const WatchOptions& options,
                              const std::vector<const WatchItem*>& items, int failures,
                              bool webhooks_active, absl::Time now) const override;
  std::shared_ptr<const google::protobuf::Message> ParseValue(const std::string& bytes) const override;
  bool EndsWhenTerminal() const override { return true; }

 private:
  TwelveLabsApi* const api_;
};

class IndexedAssetWatchKind : public WatchKind {
 public:
  explicit IndexedAssetWatchKind(TwelveLabsApi* api) : api_(api) {}  // not owned
  // The subject of an indexed-asset watch.
  static std::string Subject(const std::string& index_id, const std::string& indexed_asset_id);
  const char* name() const override { return "indexed_asset"; }
  void Fetch(const std::string& subject, const std::string& cursor, const CallOptions& opts,
             absl::AnyInvocable<void(absl::StatusOr<Read>)> done) override;
  std::shared_ptr<const google::protobuf::Message> MakeEvent(
      const WatchItem& item, int64_t sequence, twelvelabs::gateway::v1::EventSource source,
      absl::Time now) const override;
  absl::Duration NextInterval(const WatchOptions& options,
                              const std::vector<const WatchItem*>& items, int failures,
                              bool webhooks_active, absl::Time now) const override;
  std::shared_ptr<const google::protobuf::Message> ParseValue(const std::string& bytes) const override;
  bool EndsWhenTerminal() const override { return true; }

 private:
  TwelveLabsApi* const api_;
};

// The poll schedule of assets and indexed assets, by the time since the
// subject last changed upstream (`last_change`: an asset's created_at, as
// assets carry no updated_at; an indexed asset's updated_at, which moves at
// every transition), with the default base of 5 s:
//   under 1 minute   base / 2  (2.5 s)  just created or just moved on
//   under 10 minutes base      (5 s)
//   later            base * 4  (20 s)   a long processing or queue
//   unknown time     base
// then doubled per failed read in a row, always within [min, max]. No
// webhook announces these resources, so flowing webhooks do not slow it.
absl::Duration AssetPollInterval(const WatchOptions& options, absl::Time last_change, int failures,
                                 absl::Time now);

// The pieces of a TaskEvent, shared by the task and index kinds.
twelvelabs::gateway::v1::TaskEvent MakeTaskEvent(const twelvelabs::gateway::v1::Task& task,
                                                 int64_t sequence,
                                                 twelvelabs::gateway::v1::EventSource source,
                                                 absl::Time now);
// What counts as a change worth an event: status, progress, estimate, HLS
// state and video id (not updated_at alone).
std::string TaskFingerprint(const twelvelabs::gateway::v1::Task& task);
// Whether no file of the import is still in progress.
bool ImportDone(const twelvelabs::gateway::v1::ImportStatus& status);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_WATCH_WATCH_KINDS_H_
