// The tree-based task parsers as they were before ParseTask and
// ParseTaskPage moved to a SAX handler (server/twelvelabs/json_mapping.cc):
// nlohmann::json DOM, field look-ups, absl::ParseTime for every time.
//
// Kept only as an oracle. json_mapping_test checks that the new parsers
// give the same Task, the same status code and the same message on many
// bodies; json_bench measures one against the other. Do not use it in the
// gateway.
#ifndef TL_GATEWAY_TESTS_SUPPORT_TASK_JSON_REFERENCE_H_
#define TL_GATEWAY_TESTS_SUPPORT_TASK_JSON_REFERENCE_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/twelvelabs/api_version.h"
#include "server/twelvelabs/json_mapping.h"
#include "twelvelabs/gateway/v1/task.pb.h"

namespace tlgw {
namespace reference {

absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view text);
absl::StatusOr<gw::Task> ParseTask(absl::string_view body, ApiVersion version);
absl::StatusOr<TaskPage> ParseTaskPage(absl::string_view body, ApiVersion version);

}  // namespace reference
}  // namespace tlgw

#endif  // TL_GATEWAY_TESTS_SUPPORT_TASK_JSON_REFERENCE_H_
