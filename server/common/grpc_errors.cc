#include "server/common/grpc_errors.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "server/common/log.h"
#include "server/common/status_details.h"

namespace tlgw {

namespace {

using grpc::experimental::InterceptionHookPoints;

// The request type of "/pkg.Service/Method", or null when no such method is
// in the generated descriptor pool (gRPC's own services are not).
const google::protobuf::Descriptor* RequestType(absl::string_view method) {
  if (!absl::ConsumePrefix(&method, "/")) return nullptr;
  size_t slash = method.find('/');
  if (slash == absl::string_view::npos) return nullptr;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  const auto* service = pool->FindServiceByName(std::string(method.substr(0, slash)));
  if (service == nullptr) return nullptr;
  const auto* m = service->FindMethodByName(std::string(method.substr(slash + 1)));
  return m != nullptr ? m->input_type() : nullptr;
}

class GrpcErrorsInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit GrpcErrorsInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() != nullptr ? info->method() : ""),
        // A client stream's reads end with no message at its end too, so a
        // missing message means "did not parse" only for the one request of
        // unary and server-streaming calls. A bad upload chunk already fails
        // the upload with INVALID_ARGUMENT (fewer bytes than declared).
        single_request_(info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY ||
                        info->type() == grpc::experimental::ServerRpcInfo::Type::SERVER_STREAMING) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (single_request_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      if (methods->GetRecvMessage() == nullptr) unparsed_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status sent = methods->GetSendStatus();
      // Handlers always give a message; gRPC's own UNIMPLEMENTED has none.
      if (sent.error_code() == grpc::StatusCode::UNIMPLEMENTED && sent.error_message().empty()) {
        methods->ModifySendStatus(Explain());
      }
    }
    methods->Proceed();
  }

 private:
  grpc::Status Explain() const {
    const google::protobuf::Descriptor* type = RequestType(method_);
    if (type == nullptr) {
      return ToGrpcStatus(WithErrorInfo(
          absl::UnimplementedError(absl::StrCat("unknown method '", BoundedLogValue(method_, 200),
                                                "': the gateway serves the services of "
                                                "twelvelabs.gateway.v1 (see its .proto files or "
                                                "server reflection)")),
          "METHOD_NOT_FOUND", kGatewayDomain));
    }
    if (unparsed_) {
      return ToGrpcStatus(WithErrorInfo(
          absl::InvalidArgumentError(absl::StrCat(
              "the request could not be parsed as a ", type->full_name(),
              ": send that message, serialized by a client generated from the gateway's .proto files")),
          "MALFORMED_REQUEST", kGatewayDomain));
    }
    return ToGrpcStatus(WithErrorInfo(absl::UnimplementedError(absl::StrCat(method_, " is not implemented")),
                                      "METHOD_NOT_IMPLEMENTED", kGatewayDomain));
  }

  const std::string method_;
  const bool single_request_;
  bool unparsed_ = false;
};

class GrpcErrorsFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new GrpcErrorsInterceptor(info);
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> GrpcErrorsInterceptorFactory() {
  return std::make_unique<GrpcErrorsFactory>();
}

}  // namespace tlgw
