#!/usr/bin/env bash
# `bazel test //tools:check_layers_test`: runs tools/check-layers.sh on the
# source tree, found through the script's runfile, which links there.
set -euo pipefail
exec "$(readlink -f "$TEST_SRCDIR/${TEST_WORKSPACE:-tl_gateway}/tools/check-layers.sh")"
