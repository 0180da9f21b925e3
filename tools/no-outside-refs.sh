#!/usr/bin/env bash
# Fails when a file of the repository points outside it: the repository must
# stand on its own for someone who clones it. Checks every tracked file for
#   - a path into the steering team's folder beside the checkout
#     (dot-dot-slash "shared", or "shared/" followed by one of its file names);
#   - a bare name of one of those files (DESIGN, BAZEL-OFFLINE, CLUSTER, STYLE
#     or upstream-api, with ".md"), which a reader cannot open: cite the
#     docs/ file that holds the fact instead, by its path from the root;
#   - a cited docs/NAME.md that does not exist.
#
#   tools/no-outside-refs.sh                   check the tree it sits in
#   bazel test //tools:no_outside_refs_test    the same (never cached)
#
# Before checking the tree it checks itself on planted files, so a broken
# pattern cannot make it pass. This file is the only one exempt (it spells
# the patterns). Exits non-zero, listing each offending line, on failure.
set -euo pipefail

fail() { echo "no-outside-refs: FAIL: $*" >&2; exit 1; }

# Under `bazel test`, the script's runfile links to the source tree; run
# directly, it sits in it.
if [[ -n "${TEST_SRCDIR:-}" ]]; then
  self="$(readlink -f "$TEST_SRCDIR/${TEST_WORKSPACE:-tl_gateway}/tools/no-outside-refs.sh")"
else
  self="$(readlink -f "${BASH_SOURCE[0]}")"
fi
root="$(cd "$(dirname "$self")/.." && pwd)"
[[ -f "$root/WORKSPACE" ]] || fail "cannot find the source tree (looked in $root)"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

# The patterns, built in pieces so that this file does not match them.
dots='\.\.'
names='(DESIGN|BAZEL-OFFLINE|CLUSTER|STYLE|upstream-api)'
outside="${dots}/shared|(^|[^A-Za-z0-9_])shared/${names}\\.md"
bare="(^|[^A-Za-z0-9_./-])${names}\\.md"
cited='(^|[^A-Za-z0-9_./-])docs/[A-Za-z0-9_.-]+\.md'

# check DIR FILE...: prints offending lines of the FILEs (paths relative to
# DIR), returns 1 if there are any.
check() {
  local dir="$1"
  shift
  local bad=0 out
  out="$(cd "$dir" && grep -InE "$outside" -- "$@" || true)"
  if [[ -n "$out" ]]; then
    echo "points outside the repository (cite the docs/ file that holds the fact):"
    echo "$out"
    bad=1
  fi
  out="$(cd "$dir" && grep -InE "$bare" -- "$@" || true)"
  if [[ -n "$out" ]]; then
    echo "names a file the repository does not have (cite docs/..., by its path):"
    echo "$out"
    bad=1
  fi
  local line doc
  while IFS= read -r line; do
    [[ -n "$line" ]] || continue
    doc="docs/${line##*docs/}"
    if [[ ! -f "$dir/$doc" ]]; then
      echo "cites a missing file: $line"
      bad=1
    fi
  done < <(cd "$dir" && grep -IoE "$cited" -- "$@" /dev/null || true)
  return "$bad"
}

# Self-check: each planted bad file must be caught, the good one must pass.
plant="$tmp/no-outside-refs-selftest"
rm -rf "$plant"
mkdir -p "$plant/docs"
echo "# Real" >"$plant/docs/real.md"
echo "See docs/real.md, section 2." >"$plant/good.md"
printf '%s\n' "Design: \`..""/shared/DESIGN.md\`." >"$plant/bad1.md"
printf '%s\n' "# see ../..""/shared/BAZEL-OFFLINE.md" >"$plant/bad2.bazel"
printf '%s\n' "// HMAC over t.body, upstream""-api.md §4" >"$plant/bad3.h"
printf '%s\n' "Performance: docs/""missing.md." >"$plant/bad4.md"
check "$plant" good.md docs/real.md >/dev/null || fail "self-check: a good file was refused"
for f in bad1.md bad2.bazel bad3.h bad4.md; do
  if check "$plant" "$f" >/dev/null; then fail "self-check: $f was not caught"; fi
done

# The files: git's list when the tree is a git checkout, else every file
# outside build outputs and npm folders.
files=()
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [[ -f "$root/$f" && ! -L "$root/$f" ]] && files+=("$f")
  done < <(git -C "$root" ls-files -z)
else
  while IFS= read -r -d '' f; do
    files+=("${f#./}")
  done < <(cd "$root" && find . \( -name .git -o -name 'bazel-*' -o -name node_modules \) -prune \
             -o -type f -print0)
fi
self_rel="${self#"$root"/}"
checked=()
for f in "${files[@]}"; do
  [[ "$f" == "$self_rel" ]] || checked+=("$f")
done
[[ ${#checked[@]} -gt 0 ]] || fail "no files found under $root"

if ! check "$root" "${checked[@]}"; then
  fail "the files above point outside the repository (see CONTRIBUTING.md)"
fi
echo "no-outside-refs: ${#checked[@]} files checked, none points outside the repository"
