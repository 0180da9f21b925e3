#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz/ with Debian's clang-14
# (-fsanitize=fuzzer,address,undefined) and runs each for a bounded time,
# starting from its checked-in seed corpus (tests/fuzz/corpus/<target>/).
#
#   scripts/fuzz.sh                 build and run every target
#   scripts/fuzz.sh page_token ...  only these targets
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 30)
#   FUZZ_SEED       libFuzzer's -seed: 0 is random; under CI (CI=true) the
#                   default is 1, so a landing is judged on the same inputs
#                   each time (run without CI to explore further)
#   FUZZ_BUILD_DIR  where objects and binaries go (default: a temporary
#                   directory, removed at the end); reused when set, and only
#                   what changed is recompiled
#   FUZZ_ARTIFACTS  where crash inputs are written (default: $FUZZ_BUILD_DIR/artifacts)
#   FUZZ_JOBS       parallel compiles (default 2)
#
# The checked-in corpus is only read: each run copies it to a scratch
# directory, so inputs libFuzzer finds are not left in the tree. Prints one
# "fuzz <target>: PASSED|FAILED ..." line per target and exits non-zero if any
# target failed to build, crashed, leaked, hit a sanitizer error, an
# assertion (abort) or a timeout.
#
# Needs clang-14 and libclang-rt-14-dev (the libFuzzer, ASan and UBSan
# runtimes); scripts/setup.sh installs them. Bazel is not used: Bazel 4's
# auto-configured toolchain is GCC, which has no libFuzzer.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

CXX="${CXX_FUZZ:-clang++-14}"
seconds="${FUZZ_SECONDS:-30}"
if [ "${CI:-}" = "true" ]; then seed="${FUZZ_SEED:-1}"; else seed="${FUZZ_SEED:-0}"; fi
jobs="${FUZZ_JOBS:-2}"

# Each target and the sources it links besides its own tests/fuzz/<target>.cc.
declare -A SOURCES=(
  [json_mapping]="server/twelvelabs/json_mapping.cc server/twelvelabs/error_mapping.cc
                  server/twelvelabs/api_version.cc server/upstream/http.cc
                  server/common/status_details.cc tests/support/task_json_reference.cc PROTO"
  [webhook]="server/webhook/webhook_verifier.cc server/webhook/replay_set.cc wire/webhook_signature.cc"
  [requests]="server/twelvelabs/requests.cc server/twelvelabs/json_mapping.cc
              server/twelvelabs/error_mapping.cc server/twelvelabs/api_version.cc
              server/upstream/http.cc server/common/status_details.cc PROTO"
  [config]="server/config/config.cc server/common/ids.cc"
  [page_token]="server/services/page_token.cc server/common/status_details.cc PROTO"
)
ALL_TARGETS=(json_mapping webhook requests config page_token)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [ -n "${SOURCES[$t]+x}" ] || { echo "fuzz: unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found; run scripts/setup.sh" >&2; exit 1; }

if [ -n "${FUZZ_BUILD_DIR:-}" ]; then
  build="$FUZZ_BUILD_DIR"
  mkdir -p "$build"
  build="$(cd "$build" && pwd)"
else
  build="$(mktemp -d "${TMPDIR:-/tmp}/tl-fuzz.XXXXXX")"
  trap 'rm -rf "$build"' EXIT
fi
artifacts="${FUZZ_ARTIFACTS:-$build/artifacts}"
mkdir -p "$build/gen" "$build/obj" "$build/bin" "$artifacts"

SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
CXXFLAGS=(-std=c++17 -O1 -g1 -Wall -Wno-sign-compare "${SAN[@]}" -fsanitize=fuzzer-no-link
          -I"$root" -I"$build/gen" $(pkg-config --cflags grpc++ protobuf))
LIBS=($(pkg-config --libs grpc++ protobuf libcrypto absl_statusor absl_time absl_str_format \
                           absl_synchronization absl_raw_hash_set absl_hash))

# The contract's messages, with the system protoc (as tools/proto.bzl does).
# Every file of the contract, so a new one needs no edit here.
mapfile -t protos < <(find proto -name '*.proto' | sort)
stamp="$build/gen/.stamp"
if [ ! -e "$stamp" ] || [ -n "$(find "${protos[@]}" -newer "$stamp")" ]; then
  protoc -Iproto --cpp_out="$build/gen" "${protos[@]}" || { echo "fuzz: protoc failed" >&2; exit 1; }
  touch "$stamp"
fi
PROTO_SRCS=()
for p in "${protos[@]}"; do PROTO_SRCS+=("$build/gen/${p#proto/}"); done
PROTO_SRCS=("${PROTO_SRCS[@]/%.proto/.pb.cc}")

# obj_of <source>: its object file.
obj_of() { local s="${1#"$build"/}"; echo "$build/obj/${s//\//__}.o"; }

# Recompiles <source> when its object is missing or older than it or any
# header it included (from the .d file clang writes).
compile() {
  local src="$1" obj
  obj="$(obj_of "$src")"
  if [ -e "$obj" ] && [ -e "$obj.d" ]; then
    local deps
    deps="$(sed -e 's/^[^:]*://' -e 's/\\$//' "$obj.d" | tr -s ' \n' '\n\n' | grep -v '^$')"
    # shellcheck disable=SC2086
    [ -z "$(find $deps -newer "$obj" 2>/dev/null | head -1)" ] && return 0
  fi
  "$CXX" "${CXXFLAGS[@]}" -MMD -MF "$obj.d" -c "$src" -o "$obj" || { echo "fuzz: compile $src failed" >&2; return 1; }
}

# Sources of a target (PROTO expands to the generated files).
sources_of() {
  local s
  for s in tests/fuzz/$1.cc ${SOURCES[$1]}; do
    if [ "$s" = PROTO ]; then printf '%s\n' "${PROTO_SRCS[@]}"; else echo "$s"; fi
  done
}

all_srcs=()
for t in "${targets[@]}"; do mapfile -t -O "${#all_srcs[@]}" all_srcs < <(sources_of "$t"); done
mapfile -t uniq_srcs < <(printf '%s\n' "${all_srcs[@]}" | sort -u)
echo "fuzz: compiling ${#uniq_srcs[@]} sources with $CXX (jobs: $jobs)"
export -f compile obj_of
export CXX build
export CXXFLAGS_STR="${CXXFLAGS[*]}"
build_failed=0
# xargs for parallelism; compile() reads CXXFLAGS from the exported string.
printf '%s\n' "${uniq_srcs[@]}" |
  xargs -P "$jobs" -I{} bash -c 'CXXFLAGS=($CXXFLAGS_STR); compile "$1"' _ {} || build_failed=1

declare -A RESULT
passed=0
failed=0
for t in "${targets[@]}"; do
  bin="$build/bin/${t}_fuzzer"
  if [ "$build_failed" -eq 0 ]; then
    objs=()
    while read -r s; do objs+=("$(obj_of "$s")"); done < <(sources_of "$t")
    if ! "$CXX" "${SAN[@]}" -fsanitize=fuzzer "${objs[@]}" "${LIBS[@]}" -o "$bin"; then
      RESULT[$t]="FAILED (link)"
      failed=$((failed + 1))
      continue
    fi
  else
    RESULT[$t]="FAILED (build)"
    failed=$((failed + 1))
    continue
  fi
  work="$build/corpus/$t"
  rm -rf "$work"
  mkdir -p "$work"
  cp -r "tests/fuzz/corpus/$t/." "$work/"
  log="$build/$t.log"
  echo "== fuzz $t: ${seconds}s from $(ls "tests/fuzz/corpus/$t" | wc -l) seeds =="
  start=$(date +%s)
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "$bin" -seed="$seed" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$work" >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  speed=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
  if [ "$rc" -eq 0 ]; then
    RESULT[$t]="PASSED in ${took}s, ${runs:-?} runs, ${speed:-?} exec/s"
    passed=$((passed + 1))
  else
    tail -n 60 "$log"
    crash=$(ls -t "$artifacts/$t-"* 2>/dev/null | head -1)
    if [ -n "$crash" ]; then
      # The input, so a CI log alone is enough to reproduce (the build
      # directory may be gone): base64 -d it into a file and pass that
      # file to the fuzzer binary.
      echo "fuzz $t: crash input (base64, first 4096 bytes): $(head -c 4096 "$crash" | base64 -w0)"
    fi
    RESULT[$t]="FAILED in ${took}s (exit $rc)${crash:+, input: $crash}"
    failed=$((failed + 1))
  fi
done

echo
for t in "${targets[@]}"; do echo "fuzz $t: ${RESULT[$t]}"; done
echo "fuzz: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
