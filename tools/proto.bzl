"""C++ code generation from .proto files with the system protoc.

Bazel 4's proto_library/cc_proto_library need @com_google_protobuf, which
cannot be fetched offline, so a genrule runs Debian's protoc and
grpc_cpp_plugin instead. The include root is //proto, so generated headers
are included as "twelvelabs/gateway/v1/task.pb.h" and the .proto files stay
usable by protoc in any language exactly as they are.
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def cc_grpc_proto_library(name, srcs, deps = [], grpc = True, visibility = None):
    """Generates and compiles C++ messages (and gRPC stubs) for `srcs`.

    Args:
      name: the cc_library target.
      srcs: .proto files, as paths under this package.
      deps: other cc_grpc_proto_library targets whose protos these import.
      grpc: also run grpc_cpp_plugin.
      visibility: of the cc_library.
    """
    pkg = native.package_name()
    strip = len(pkg) + 1 if pkg else 0
    outs = []
    hdrs = []
    cc = []
    for src in srcs:
        base = src[:-len(".proto")]
        cc.append(base + ".pb.cc")
        hdrs.append(base + ".pb.h")
        if grpc:
            cc.append(base + ".grpc.pb.cc")
            hdrs.append(base + ".grpc.pb.h")
    outs = cc + hdrs
    grpc_flags = ""
    if grpc:
        grpc_flags = "--grpc_out=$(GENDIR)/%s --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin) " % pkg
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = ("protoc -I%s -I/usr/include --cpp_out=$(GENDIR)/%s " % (pkg or ".", pkg) +
               grpc_flags + " ".join(["$(location %s)" % s for s in srcs])),
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs,
        visibility = visibility,
    )
    cc_library(
        name = name,
        srcs = cc,
        hdrs = hdrs,
        includes = ["."],
        deps = deps + ["//third_party:grpc", "//third_party:protobuf"],
        visibility = visibility,
    )
