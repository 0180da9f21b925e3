#!/usr/bin/env bash
# `bazel test //tools/buf:check_proto_test`: runs tools/check-proto.sh on the
# source tree (found through this package's package.json, whose runfile links
# there), since buf.yaml and tools/check-proto.sh sit in packages that do not
# export them. Tagged "external" in BUILD.bazel, so it is never cached.
set -euo pipefail
src="$(dirname "$(readlink -f "$TEST_SRCDIR/${TEST_WORKSPACE:-tl_gateway}/tools/buf/package.json")")/../.."
exec "$src/tools/check-proto.sh"
