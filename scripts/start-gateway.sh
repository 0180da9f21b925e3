#!/usr/bin/env bash
# Builds and starts the gateway on 127.0.0.1:50051. With TWELVELABS_API_KEY
# (or TWELVELABS_API_KEY_FILE) set it talks to the real Twelve Labs API;
# without, it serves against its built-in simulator and says so in its first
# log line. Extra arguments go to the gateway, e.g. --listen=0.0.0.0:50051.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build //server:gateway
args=()
if [ -z "${TWELVELABS_API_KEY:-}" ] && [ -z "${TWELVELABS_API_KEY_FILE:-}" ]; then
  args+=(--simulate)
fi
exec bazel-bin/server/gateway "${args[@]}" "$@"
