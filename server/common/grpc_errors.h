// Gives the failures gRPC itself answers a message a caller can act on and
// a google.rpc.ErrorInfo, like every failure the gateway's handlers answer:
//  - a request message that does not parse: gRPC 1.51's callback API answers
//    a bare UNIMPLEMENTED with no message; the caller gets INVALID_ARGUMENT
//    (reason MALFORMED_REQUEST) naming the message type it must send;
//  - an unknown method: UNIMPLEMENTED (reason METHOD_NOT_FOUND) naming it
//    (cut to a bounded length).
// A server interceptor, so no handler needs to know.
#ifndef TL_GATEWAY_SERVER_COMMON_GRPC_ERRORS_H_
#define TL_GATEWAY_SERVER_COMMON_GRPC_ERRORS_H_

#include <memory>

#include <grpcpp/support/server_interceptor.h>

namespace tlgw {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> GrpcErrorsInterceptorFactory();

}  // namespace tlgw

#endif  // TL_GATEWAY_SERVER_COMMON_GRPC_ERRORS_H_
