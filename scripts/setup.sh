#!/usr/bin/env bash
# Installs every Debian package tl-gateway needs to build, test and run.
# Safe to run again: it installs only what is missing. Debian 12 (bookworm).
set -euo pipefail

PACKAGES=(
  # Build: Bazel 4 from Debian plus its Java rules, and the C++ toolchain.
  bazel-bootstrap bazel-rules-java g++
  # Libraries the gateway, the simulator and the tests link.
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libcurl4-openssl-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  libcpp-httplib-dev libsqlite3-dev libssl-dev zlib1g-dev libbrotli-dev
  # The shared state of several replicas: libpq to talk to PostgreSQL, and
  # the server itself, which the tests and scripts/start-cluster.sh start as
  # a child process (initdb + postgres from /usr/lib/postgresql/15/bin).
  libpq-dev postgresql-15
  # The TLS tests make their certificates with the openssl command.
  openssl
  # TLS to the real Twelve Labs API.
  ca-certificates
  # Examples: gRPC for Python (protoc and grpc_python_plugin come from
  # protobuf-compiler-grpc above; Debian's python3-grpc-tools bundles a
  # protoc too old for proto3 `optional`), curl for run-examples.sh.
  python3-grpcio curl
  # promtool, which the metrics test uses to check /metrics.
  prometheus
  # The fuzz targets (scripts/fuzz.sh): clang with -fsanitize=fuzzer. The
  # libFuzzer, ASan and UBSan runtimes are in libclang-rt-14-dev (only a
  # Recommends of clang-14); libfuzzer-14-dev is not needed (its
  # libFuzzer.a is for linking without -fsanitize=fuzzer).
  clang-14 libclang-rt-14-dev
)

root="$(cd "$(dirname "$0")/.." && pwd)"

# npm packages pinned by package-lock.json: buf for tools/check-proto.sh and
# the Node example's gRPC libraries. Run after the apt step (which brings
# Node.js when the machine lacks it), even when no apt package is missing.
npm_install() {
  for dir in tools/buf examples/node; do
    if [ ! "$root/$dir/node_modules/.package-lock.json" -nt "$root/$dir/package-lock.json" ]; then
      echo "setup: npm ci in $dir"
      npm ci --prefix "$root/$dir" --ignore-scripts --no-audit --no-fund
    fi
  done
}

command -v npm >/dev/null || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  npm_install
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root, or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
npm_install
