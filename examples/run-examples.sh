#!/usr/bin/env bash
# Runs the Python and Node examples against the real gateway in front of the
# real simulator, both started here on free loopback ports, and checks what
# the examples print and what reached the simulator.
#
#   examples/run-examples.sh               builds the binaries with bazel first
#   examples/run-examples.sh --no-build    uses the binaries already in bazel-bin
#   bazel test //examples:examples_test    the same, binaries from the runfiles
#
# Needs Debian's python3-grpcio and protobuf-compiler-grpc, Node.js, and the
# examples' npm packages (npm ci --prefix examples/node): scripts/setup.sh
# installs all of them. PYTHON picks the interpreter (default: the first of
# /usr/bin/python3 and python3 that can import grpc).
set -euo pipefail

if [[ -n "${TEST_SRCDIR:-}" ]]; then
  root="$TEST_SRCDIR/${TEST_WORKSPACE:-tl_gateway}"
  bin="$root"
  work="$TEST_TMPDIR"
else
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [[ "${1:-}" != --no-build ]]; then
    (cd "$root" && bazel build //server:gateway //sim:twelvelabs_sim)
  fi
  bin="$(cd "$root" && bazel info bazel-bin 2>/dev/null)"
  work="$(mktemp -d)"
fi

fail() {
  echo "run-examples: FAIL: $*" >&2
  for log in "$work"/gateway.log "$work"/sim.log; do
    [[ -s "$log" ]] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

# The interpreters and packages, before anything starts.
python=""
for p in ${PYTHON:-} /usr/bin/python3 python3; do
  if "$p" -c 'import grpc, google.protobuf' 2>/dev/null; then python="$p"; break; fi
done
[[ -n "$python" ]] || fail "no python3 that can import grpc: apt-get install python3-grpcio (scripts/setup.sh)"
command -v node >/dev/null || fail "node not found"
# node resolves the example's real path, and finds node_modules beside it:
# in the source tree, also when the script runs from bazel's runfiles.
node_dir="$(dirname "$(readlink -f "$root/examples/node/quickstart.js")")"
[[ -d "$node_dir/node_modules/@grpc/grpc-js" && -d "$node_dir/node_modules/protobufjs" ]] ||
  fail "$node_dir/node_modules is missing: run 'npm ci --prefix examples/node' (scripts/setup.sh does)"

pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Standalone, the logs stay only when something failed.
  if [[ -z "${TEST_TMPDIR:-}" && $rc -eq 0 ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# wait_port FILE PID NAME: the port a process wrote to FILE, within 30 s.
wait_port() {
  for _ in $(seq 300); do
    [[ -s "$1" ]] && { cat "$1"; return; }
    kill -0 "$2" 2>/dev/null || { cat "$work/$3.log" >&2; fail "$3 exited at start-up"; }
    sleep 0.1
  done
  fail "$3 wrote no port file within 30 s"
}

key="tlk_examples_$RANDOM$RANDOM"
# Tasks spend 0.2 s per stage, so one is ready within a second.
"$bin/sim/twelvelabs_sim" --listen=127.0.0.1:0 --port_file="$work/sim.port" \
  --api_keys="$key" --stage_seconds=0.2 >"$work/sim.log" 2>&1 &
pids+=($!)
sim_port="$(wait_port "$work/sim.port" "${pids[-1]}" sim)"
sim="http://127.0.0.1:$sim_port"

TWELVELABS_API_KEY="$key" "$bin/server/gateway" --listen=127.0.0.1:0 \
  --port_file="$work/gateway.port" --upstream_url="$sim/v1.3" --state_db=:memory: \
  --watch_interval_seconds=0.5 --watch_min_interval_seconds=0.1 >"$work/gateway.log" 2>&1 &
pids+=($!)
gateway_port="$(wait_port "$work/gateway.port" "${pids[-1]}" gateway)"
export TLGW_ADDR="127.0.0.1:$gateway_port"
export TLGW_PROTO_DIR="$root/proto"
export PYTHONDONTWRITEBYTECODE=1

# expect FILE REGEX: FILE has a line matching REGEX (extended).
expect() {
  grep -Eq -- "$2" "$1" || { cat "$1" >&2; fail "$(basename "$1") has no line matching: $2"; }
}

# run_example NAME SOURCE-TAG COMMAND...
run_example() {
  local name="$1" tag="$2" out="$work/$1.out"
  shift 2
  # The example's second GetTask meets a 429 once, so RetryInfo is decoded too.
  curl -fsS -X POST "$sim/_sim/faults" -d '{"method": "GET",
    "path_regex": "/tasks/ffffffffffffffffffffffff$", "kind": "rate_limit",
    "retry_after_seconds": 7, "count": 1}' >/dev/null
  echo "run-examples: $name"
  local rc=0
  timeout 45 "$@" >"$out" 2>&1 || rc=$?
  [[ $rc -eq 0 ]] || { cat "$out" >&2; fail "$name exited with $rc"; }
  expect "$out" '^created task [0-9a-f]{24} in index 0123456789abcdef01234567: '
  expect "$out" '^  TASK_STATUS_READY \(ready\)$'
  expect "$out" '^task [0-9a-f]{24} is ready$'
  expect "$out" '^listed [1-5] of [1-9][0-9]* tasks in index 0123456789abcdef01234567:$'
  expect "$out" "^GetTask\\(.not-a-task-id.\\) failed: INVALID_ARGUMENT: task_id"
  expect "$out" '^  BadRequest: task_id: '
  expect "$out" '^GetTask\(.f{24}.\) failed: RESOURCE_EXHAUSTED: '
  expect "$out" '^  RetryInfo: retry after 7(\.0)? s$'
  expect "$out" '^  ErrorInfo: reason=TOO_MANY_REQUESTS domain=api.twelvelabs.io '
  # The asset path: created processing, indexed once ready, watched to ready.
  expect "$out" '^created asset [0-9a-f]{24}: processing$'
  expect "$out" '^indexed asset [0-9a-f]{24} of asset [0-9a-f]{24} in index 0123456789abcdef01234567: '
  expect "$out" '^  INDEXED_ASSET_STATUS_(PENDING|QUEUED|INDEXING|READY) \((pending|queued|indexing|ready)\)$'
  expect "$out" '^indexed asset [0-9a-f]{24} is INDEXED_ASSET_STATUS_READY$'
  # UploadAndIndex: a local file uploaded, indexed once ready, watched to ready.
  expect "$out" '^uploaded and indexed asset [0-9a-f]{24} of asset [0-9a-f]{24} in index 0123456789abcdef01234567: '
  expect "$out" '^uploaded indexed asset [0-9a-f]{24} is INDEXED_ASSET_STATUS_READY$'
  # The simulator received the create, user_metadata included.
  curl -fsS "$sim/_sim/requests?path_contains=/tasks" | "$python" -c '
import json, sys
posts = [r for r in json.load(sys.stdin)["requests"] if r["method"] == "POST"]
sys.exit(not any(json.loads(r["form"].get("user_metadata") or "{}").get("source") == sys.argv[1]
                 for r in posts))' "$tag" ||
    fail "the simulator saw no POST /tasks with user_metadata {\"source\": \"$tag\"}"
  sed 's/^/    /' "$out"
}

run_example python python-example "$python" "$root/examples/python/quickstart.py"
run_example node node-example node "$root/examples/node/quickstart.js"

echo "run-examples: OK, python and node examples passed"
