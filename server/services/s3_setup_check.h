// The rules of a Twelve Labs S3 integration, checked locally so a caller
// learns what to fix before the dashboard's "Verify My Account" fails.
// From docs/upstream-api.md §3: the bucket must be in us-west-2, and the IAM
// policy and role must be named exactly TwelvelabsIntegrationPolicy and
// TwelvelabsIntegrationRole. The policy's JSON text is not public, so it is
// not checked.
#ifndef TL_GATEWAY_SERVER_SERVICES_S3_SETUP_CHECK_H_
#define TL_GATEWAY_SERVER_SERVICES_S3_SETUP_CHECK_H_

#include "twelvelabs/gateway/v1/integration_service.pb.h"

namespace tlgw {

inline constexpr char kRequiredS3Region[] = "us-west-2";
inline constexpr char kRequiredPolicyName[] = "TwelvelabsIntegrationPolicy";
inline constexpr char kRequiredRoleName[] = "TwelvelabsIntegrationRole";

// Every finding, errors first; `ok` when none is an error.
twelvelabs::gateway::v1::CheckAwsS3SetupResponse CheckAwsS3Setup(
    const twelvelabs::gateway::v1::CheckAwsS3SetupRequest& req);

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_SERVICES_S3_SETUP_CHECK_H_
