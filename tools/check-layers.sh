#!/usr/bin/env bash
# Checks the layering that Bazel visibility cannot see: what the sources
# #include. Visibility rejects an undeclared *dependency*, but a header can
# still be reached through a transitive dependency; these rules catch that.
#
#   tools/check-layers.sh          from anywhere in the source tree
#   bazel test //tools:check_layers_test
#
# Rules (see the one-line "Layering:" comment at the top of each BUILD.bazel):
#  1. No cycles between directories (packages): the include graph is acyclic.
#  2. sim/ includes nothing under server/; server/ includes nothing under
#     sim/ except server/gateway_process.cc -> sim/simulator.h (the gateway
#     embeds the simulator through its public library for --simulate).
#  3. wire/ and common/ (shared by gateway and simulator, owned by neither)
#     include nothing of server/, sim/, client/ or tests/.
#  4. client/ includes nothing of server/ or sim/.
#  5. The gateway's lower layers include only what is below them:
#     server/common only server/common; server/config only server/config and
#     server/common/ids.h; server/upstream only server/upstream; server/http
#     (the webhook and admin ports' HTTP server) only server/http.
set -euo pipefail

root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
cd "$root"

failures=0
fail() {
  echo "check-layers: $*" >&2
  failures=$((failures + 1))
}

# Every quoted include of this repository's files: "file<TAB>included path".
includes() {
  local dirs=()
  for d in server sim client wire common tests bench; do [ -d "$d" ] && dirs+=("$d"); done
  find "${dirs[@]}" \( -name '*.h' -o -name '*.cc' \) -not -path '*/node_modules/*' |
    sort |
    while read -r f; do
      sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
        while read -r inc; do
          if [ -f "$inc" ]; then printf '%s\t%s\n' "$f" "$inc"; fi
        done
    done
}

edges="$(includes)"

# 1. Cycles between directories.
loops="$(printf '%s\n' "$edges" |
  awk -F'\t' '{ a = $1; b = $2; sub(/\/[^\/]*$/, "", a); sub(/\/[^\/]*$/, "", b);
                if (a != b) print a, b }' |
  sort -u | tsort 2>&1 >/dev/null || true)"
if [ -n "$loops" ]; then
  fail "directories include each other in a cycle:"
  echo "$loops" >&2
fi

# forbid FILE_PREFIX INCLUDE_REGEX [ALLOWED "file<TAB>include" REGEX] WHY
forbid() {
  local from="$1" pattern="$2" allowed="$3" why="$4"
  local bad
  bad="$(printf '%s\n' "$edges" | awk -F'\t' -v from="$from" -v pat="$pattern" \
    'index($1, from) == 1 && $2 ~ pat' | { if [ -n "$allowed" ]; then grep -Ev "$allowed" || true; else cat; fi; })"
  if [ -n "$bad" ]; then
    fail "$why:"
    printf '%s\n' "$bad" | sed 's/\t/ includes /; s/^/  /' >&2
  fi
}

forbid sim/ '^server/' '' "the simulator must not include the gateway"
forbid server/ '^sim/' $'^server/gateway_process\\.cc\tsim/simulator\\.h$' \
  "the gateway may include only sim/simulator.h, from server/gateway_process.cc"
forbid wire/ '^(server|sim|client|tests)/' '' "wire/ must stay neutral"
forbid common/ '^(server|sim|client|tests)/' '' "common/ must stay neutral"
forbid client/ '^(server|sim)/' '' "the client library must not include the gateway or the simulator"
forbid server/common/ '^server/' $'\tserver/common/' "server/common is the gateway's lowest layer"
forbid server/config/ '^server/' $'\tserver/(config/|common/ids\\.h$)' \
  "server/config may include only server/common/ids.h below it"
forbid server/upstream/ '^server/' $'\tserver/upstream/' "server/upstream depends on nothing of the gateway"
forbid server/http/ '^server/' $'\tserver/http/' "server/http depends on nothing of the gateway"

if [ "$failures" -gt 0 ]; then
  echo "check-layers: $failures rule(s) violated" >&2
  exit 1
fi
echo "check-layers: ok ($(printf '%s\n' "$edges" | wc -l) includes checked)"
