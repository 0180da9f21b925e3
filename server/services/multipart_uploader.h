// The multipart half of UploadAsset (docs/upstream-api.md §9.4): takes a
// file's bytes in order, cuts them into the server's chunk_size, PUTs each
// chunk to its presigned URL as soon as it is complete, a few at a time,
// keeps a chunk only until its PUT has an ETag (retrying a failed PUT from
// memory, with a fresh URL, after a backoff), reports completed chunks in
// batches, and ends with the asset once upstream has every chunk.
//
// Independent of gRPC: a caller (the UploadAsset reactor, later
// UploadAndIndex) pushes bytes while HasRoom(), and is told through hooks
// when there is room again and when the upload ended. Memory is bounded by
// the chunks in flight plus one being filled, whatever the file's size.
//
// Every event (a push, an upstream answer, a timer) runs on the uploader's
// own SerialQueue, so its state needs no lock; HasRoom(), progress() and
// buffered() are atomics any thread may read.
#ifndef TL_GATEWAY_SERVER_SERVICES_MULTIPART_UPLOADER_H_
#define TL_GATEWAY_SERVER_SERVICES_MULTIPART_UPLOADER_H_

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/time/time.h"
#include "server/common/clock.h"
#include "server/common/serial_queue.h"
#include "server/services/upload_budget.h"
#include "server/twelvelabs/api.h"
#include "twelvelabs/gateway/v1/asset_service.pb.h"

namespace tlgw {

struct MultipartLimits {
  // Chunk PUTs at once (--asset_upload_chunks_in_flight).
  int chunks_in_flight = 2;
  // Chunk bytes held at once, at most (--asset_upload_max_buffer_mib): the
  // chunks in flight are cut down so that they, one chunk waiting for a
  // slot and one being filled fit (in steady state the next chunk waits a
  // quarter filled, so the chunks in flight and a quarter are held). A
  // server chunk size over a third of this fails the upload rather than
  // the gateway's memory.
  int64_t max_buffer_bytes = int64_t{48} << 20;
  // Attempts per chunk PUT (and per URL fetch), the first included.
  int put_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(8);
  // Completed chunks per report (the last report takes what is left).
  int report_batch = 16;
  // How long a URL is used after it arrived (§9.4: they expire after an
  // hour). Judged by the gateway's clock from the URL's arrival, not by
  // upstream's expires_at, which another clock wrote; an older one is
  // replaced before use, and one refused anyway (403) is replaced then.
  absl::Duration url_lifetime = absl::Minutes(55);
  // The largest push (one client message, kMaxUploadChunkBytes): the
  // upload's working set counts one arriving just as it reaches its steady
  // state (WorkingSetBytes).
  int64_t max_push_bytes = int64_t{4} << 20;
};

// What one upload may hold once its session is open: the chunks in flight
// and a quarter of the next (the steady state, UpdateRoom), plus one push
// taken just below that; never over limits.max_buffer_bytes.
int64_t WorkingSetBytes(const MultipartLimits& limits, int64_t chunk_size, int in_flight);

// Bytes held by every multipart upload of the process (for the metrics).
int64_t MultipartBufferedBytes();

class MultipartUploader : public std::enable_shared_from_this<MultipartUploader> {
 public:
  struct Hooks {
    // Pushing may go on (HasRoom() turned true). Any thread.
    std::function<void()> on_room;
    // The session is known (opened, or read back for a resume): before any
    // chunk is sent. Runs even when the upload was aborted meanwhile, so the
    // caller can record who owns the session. Any thread.
    std::function<void(const std::string& upload_id, const std::string& asset_id, int64_t chunk_size)> on_open;
    // Once: the asset (read after upstream had every chunk), or why not.
    absl::AnyInvocable<void(absl::StatusOr<twelvelabs::gateway::v1::Asset>)> on_done;
  };

  // `reservation`: the upload's share of the process's upload budget
  // (taken by the caller before the upload starts, usually
  // limits.max_buffer_bytes). It is shrunk to WorkingSetBytes once the
  // session is open, and released once the upload ended and holds no
  // chunk any more (PUTs under way at an abort still hold theirs).
  MultipartUploader(TwelveLabsApi* api, Clock* clock, CallOptions opts, MultipartLimits limits, Hooks hooks,
                    UploadBudget::Reservation reservation = {});
  ~MultipartUploader();

  // One of the two, first. A new session for `header` (validated); or the
  // continuation of `upload_id`, whose file is `size` bytes, with the bytes
  // pushed starting at `offset` (a multiple of the chunk size, at most the
  // session's resume offset: checked against upstream).
  void StartNew(const twelvelabs::gateway::v1::UploadAssetHeader& header);
  void StartResume(const std::string& upload_id, int64_t size, int64_t offset);

  // The next bytes of the file. Pushing while !HasRoom() is allowed but
  // grows the buffer: callers stop reading their source instead.
  void Push(std::string bytes);
  // False while a push is still queued: the caller then waits for on_room,
  // so pushes never pile up in the queue.
  bool HasRoom() const {
    // Noted first: a push consumed right after this check still sees it
    // and calls on_room (a spurious on_room is harmless).
    asked_while_full_ = true;
    return room_.load() && queued_bytes_.load() == 0;
  }
  // Every byte was pushed.
  void EndOfInput();
  // Stops: no new PUT starts; the PUTs under way finish, and the chunks
  // they completed are reported so a resume can skip them. `on_done` gets
  // `why` if it has not run yet.
  void Abort(absl::Status why);

  // Changes whenever upstream answers anything: an idle timer compares it.
  int64_t progress() const { return progress_.load(); }
  // Chunk bytes held now, and the most held at once.
  int64_t buffered() const { return buffered_.load(); }
  int64_t peak_buffered() const { return peak_.load(); }
  // The effective chunks in flight once the session is open (0 before).
  int in_flight_limit() const { return limit_.load(); }

 private:
  struct Chunk {
    // The pieces as they arrived (client messages, never joined): what the
    // PUT sends, kept for a retry until upstream has them.
    absl::Cord bytes;
    // Memory they keep alive: their size, plus the part of a message cut
    // at a chunk boundary that the other side of the cut still uses.
    int64_t held = 0;
    int attempts = 0;
    bool putting = false;  // a PUT of it is under way
  };

  void Post(absl::AnyInvocable<void()> action);
  void Opened(const std::string& upload_id, const std::string& asset_id, int64_t chunk_size, int total_chunks,
              int64_t size, int first_index);
  void Consume(std::string data);
  void Hold(absl::Cord piece, int64_t held);
  void BeginChunk();
  void CompleteChunk();
  void Pump();
  void Dispatch(int index);
  void FetchUrls();
  void OnUrls(absl::StatusOr<std::vector<PresignedUrl>> urls);
  void Put(int index, const std::string& url);
  void OnPut(int index, absl::StatusOr<std::string> etag);
  void MaybeReport(bool force);
  void OnReport(absl::StatusOr<ChunkReport> report);
  void CheckFinish();
  void Fail(absl::Status why);
  void WindDown();
  void UpdateRoom();
  void Account(int64_t delta);
  void MaybeReleaseBudget();
  int64_t ChunkLength(int index) const;
  absl::Duration Backoff(int attempt) const;

  TwelveLabsApi* const api_;
  Clock* const clock_;
  const CallOptions opts_;
  const MultipartLimits limits_;
  Hooks hooks_;
  UploadBudget::Reservation reservation_;
  SerialQueue queue_;

  std::atomic<bool> room_{false};
  std::atomic<int64_t> queued_bytes_{0};  // pushed, not yet consumed
  mutable std::atomic<bool> asked_while_full_{false};
  std::atomic<int64_t> progress_{0};
  std::atomic<int64_t> buffered_{0};
  std::atomic<int64_t> peak_{0};
  std::atomic<int> limit_{0};

  // Everything below only on queue_.
  bool opened_ = false;
  bool done_ = false;     // on_done ran (or was due): no more work but the wind-down
  bool stopped_ = false;  // winding down: no new PUTs
  bool input_ended_ = false;
  std::deque<std::string> early_;  // bytes pushed before the session was known
  std::string upload_id_, asset_id_;
  int64_t size_ = 0;
  int64_t chunk_size_ = 0;
  int total_chunks_ = 0;
  int in_flight_limit_ = 1;
  std::set<int> completed_before_;  // a resumed session's chunks upstream has
  int next_index_ = 1;              // the chunk being filled
  bool skip_current_ = false;       // it is one upstream has: its bytes are dropped
  int64_t filled_ = 0;              // its bytes so far
  absl::Cord assembling_;
  int64_t assembling_held_ = 0;  // as Chunk::held
  std::deque<std::pair<int, Chunk>> ready_;  // complete, waiting for a slot
  std::map<int, Chunk> active_;              // dispatched: waiting for a URL, PUT, or backoff
  int putting_ = 0;                          // PUTs under way
  struct HeldUrl {
    std::string url;
    absl::Time received;
  };
  std::map<int, HeldUrl> urls_;
  std::set<int> url_waiters_;
  bool url_fetch_in_flight_ = false;
  int url_fetch_failures_ = 0;
  std::vector<CompletedChunk> etags_;  // not reported yet
  bool report_in_flight_ = false;
  int total_completed_ = 0;  // as upstream last counted
  bool all_reported_ = false;
  bool finishing_ = false;  // the asset is being read
};

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_MULTIPART_UPLOADER_H_
