#!/usr/bin/env bash
# CI for the Bazel consumer example (.ci/run calls it and counts it as one
# test): builds and tests this separate workspace against ringlock offline,
# runs the demo with no flags, checks that ringlock's internal labels stay
# invisible to users, and that MODULE.bazel and ringlock_deps() pin the same
# releases. Exits non-zero on the first failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
root="$(cd ../.. && pwd)"

cleanup() { ./bazelw shutdown >/dev/null 2>&1 || true; }
trap cleanup EXIT

step() { echo "== consumer: $*"; }

step "test //... (@ringlock via local_repository + ringlock_deps())"
./bazelw test //...

step "run //:filecopy (no flags)"
./bazelw run //:filecopy

step "internal labels are not visible to users"
if out="$(./bazelw build //:uses_internal_label 2>&1)"; then
  echo "FAIL: //:uses_internal_label built, but @ringlock//uring:io should be private" >&2
  exit 1
fi
if ! grep -q "target '@ringlock//uring:io' is not visible" <<<"$out"; then
  echo "FAIL: //:uses_internal_label failed for another reason:" >&2
  echo "$out" | tail -20 >&2
  exit 1
fi

step "MODULE.bazel and ringlock_deps(system_libs = False) pin the same versions"
bad=0
for repo in liburing com_google_absl com_google_googletest com_google_benchmark; do
  module_version="$(sed -nE "s/^bazel_dep\(.*version = \"([^\"]+)\".*repo_name = \"$repo\".*/\1/p" "$root/MODULE.bazel")"
  deps_version="$(grep -A1 -E "^    \"$repo\": struct\(" "$root/bazel/deps.bzl" | sed -nE 's/.*version = "([^"]+)".*/\1/p')"
  if [[ -n "$module_version" && "$module_version" == "$deps_version" ]]; then
    echo "ok: @$repo $module_version"
  else
    echo "FAIL: @$repo: MODULE.bazel '$module_version', bazel/deps.bzl '$deps_version'" >&2
    bad=1
  fi
done
((bad == 0))

echo "consumer: all checks passed"
