// The WatchImport stream: polls an import's status (one poll loop per
// stream, spaced by the global poll budget; import watches are few) and
// writes each change, latest state only, until no file is left validating,
// pending, queued or indexing; that last event has `done` set and the
// stream ends with OK.
#ifndef TL_GATEWAY_SERVER_SERVICES_WATCH_IMPORT_REACTOR_H_
#define TL_GATEWAY_SERVER_SERVICES_WATCH_IMPORT_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include "server/services/deps.h"
#include "twelvelabs/gateway/v1/integration_service.pb.h"

namespace tlgw {

grpc::ServerWriteReactor<twelvelabs::gateway::v1::ImportStatusEvent>* NewWatchImportReactor(
    const ServiceDeps* deps, const CallOptions& opts, const std::string& integration_id,
    const std::string& index_id);

// True when no file of `status` is in a non-terminal state.
bool ImportDone(const twelvelabs::gateway::v1::ImportStatus& status);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_WATCH_IMPORT_REACTOR_H_
