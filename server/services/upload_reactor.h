// The UploadVideoFile stream: a header, then byte chunks, relayed into one
// streamed multipart `POST /tasks` as they arrive.
//
// Every event (a message read, the upstream's answer, room in the pipe, a
// cancel) is handled on a SerialQueue, so the reactor's state needs no
// lock and StartRead()/Finish() are never called twice at once or after
// Finish(). Memory per upload is bounded by the pipe's high-water mark, one
// message and gRPC's stream window (GatewayOptions::stream_window_bytes),
// whatever the file's size.
#ifndef TL_GATEWAY_SERVER_SERVICES_UPLOAD_REACTOR_H_
#define TL_GATEWAY_SERVER_SERVICES_UPLOAD_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/upload_service.pb.h"

namespace tlgw {

// The largest file `POST /tasks` takes (docs/upstream-api.md §2.1).
inline constexpr int64_t kMaxUploadBytes = int64_t{2} * 1024 * 1024 * 1024;
// The largest chunk one UploadVideoFile message may carry.
inline constexpr size_t kMaxUploadChunkBytes = 4 << 20;
// gRPC's limit on any message the gateway receives: above the largest chunk
// and its framing, so that a chunk over kMaxUploadChunkBytes (up to this)
// gets the gateway's own error, which says what to do.
inline constexpr int kMaxReceiveMessageBytes = 8 << 20;
// Bytes buffered per upload before the gateway stops reading from the client.
// 2 MiB keeps curl's 512 KiB upload buffer fed (a 2 GiB upload ran at the
// direct upload's rate with 2 MiB as with 4 MiB, bench/RESULTS.md).
inline constexpr size_t kUploadHighWater = 2 << 20;
// What a pipe may hold: just under the high water, plus the message that
// took it over (ServiceDeps::upload_budget reserves this per upload).
inline constexpr int64_t kUploadPipeMaxBytes = int64_t{kUploadHighWater} + int64_t{kMaxUploadChunkBytes};
// An upload's reservation for its pipe: a file smaller than the pipe's
// bound needs only its size.
inline int64_t PipeReservation(int64_t file_size) {
  return file_size < kUploadPipeMaxBytes ? file_size : kUploadPipeMaxBytes;
}

// Creates the reactor for one call; it deletes itself when the call ends.
grpc::ServerReadReactor<twelvelabs::gateway::v1::UploadVideoFileRequest>* NewUploadReactor(
    const ServiceDeps* deps, grpc::CallbackServerContext* ctx, Admitted call,
    twelvelabs::gateway::v1::Task* response);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_UPLOAD_REACTOR_H_
