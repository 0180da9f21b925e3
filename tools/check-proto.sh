#!/usr/bin/env bash
# Lints the public contract (proto/) with buf and checks it for breaking
# changes against the last released contract, proto/buf-breaking/released.json.
#
#   tools/check-proto.sh                    lint, per-method lint exceptions, breaking
#   tools/check-proto.sh --update-snapshot  at a release: make proto/ the released contract
#   bazel test //tools/buf:check_proto_test the same checks (never cached)
#
# buf is the npm package @bufbuild/buf pinned by tools/buf/package-lock.json.
# Run directly, this installs it (npm ci) when it is missing or another
# version; under `bazel test` it must already be installed (scripts/setup.sh).
# Exits non-zero when anything fails.
set -euo pipefail

fail() { echo "check-proto: FAIL: $*" >&2; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
snapshot=proto/buf-breaking/released.json
[[ -z "${TEST_TMPDIR:-}" ]] || export BUF_CACHE_DIR="$TEST_TMPDIR/buf-cache"

command -v node >/dev/null || fail "node not found (buf's npm package runs through it)"
buf_dir="$root/tools/buf"
buf="$buf_dir/node_modules/.bin/buf"
want="$(node -p "require('$buf_dir/package-lock.json').packages['node_modules/@bufbuild/buf'].version")"
have="$("$buf" --version 2>/dev/null || true)"
if [[ "$have" != "$want" ]]; then
  [[ -z "${TEST_SRCDIR:-}" ]] ||
    fail "buf $want is not installed in $buf_dir: run 'npm ci --prefix tools/buf' (scripts/setup.sh does)"
  echo "check-proto: installing buf $want (npm ci in tools/buf)"
  npm ci --prefix "$buf_dir" --ignore-scripts --no-audit --no-fund >/dev/null
  have="$("$buf" --version)"
  [[ "$have" == "$want" ]] || fail "npm ci installed buf '$have', expected $want"
fi

if [[ "${1:-}" == --update-snapshot ]]; then
  # Without source info: `buf breaking` reports positions in the current
  # files, and the snapshot stays small. Indented, so a release's diff reads.
  "$buf" build --exclude-source-info -o '-#format=json' |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () =>
      process.stdout.write(JSON.stringify(JSON.parse(s), null, 1) + "\n"))' >"$snapshot.tmp"
  mv "$snapshot.tmp" "$snapshot"
  echo "check-proto: wrote $snapshot from proto/"
  exit 0
fi

status=0
echo "check-proto: buf $have lint (buf.yaml: STANDARD, proto/google ignored)"
"$buf" lint || { status=1; echo "check-proto: lint failed" >&2; }

echo "check-proto: lint exceptions, method by method (buf.yaml '# allow:' lines)"
node tools/proto-lint-exceptions.js "$buf" "$root" || status=1

echo "check-proto: buf breaking proto --against $snapshot (FILE rules)"
"$buf" breaking proto --against "$snapshot" || {
  status=1
  echo "check-proto: breaking changes against the released contract. Keep the old field," \
    "message or method (deprecate it), or make a new version (v2) of the package." >&2
}

[[ $status -eq 0 ]] || fail "see above"
echo "check-proto: OK"
