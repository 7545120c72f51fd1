#!/bin/bash
# e2e: the set-up installs what the tests use, and the README says so. For every external tool an end-to-end
# script calls (python3, curl, jq, tmux, node, npm), `scripts/setup.sh --tests --print-packages` (the packages it
# wants on a bare Debian 12) has the Debian package that provides it; scripts/test.sh and CI run setup with
# --tests; every package setup.sh lists is in the README's dependency tables; the README says what ../shared is.
# Usage: setup_covers_tests.sh LATTE_BINARY SHARED_DIR
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

pkgs=$(bash scripts/setup.sh --tests --print-packages) || { echo "FAIL: setup.sh --tests --print-packages"; exit 1; }
build_pkgs=$(bash scripts/setup.sh --print-packages)
declare -A provider=([python3]=python3 [curl]=curl [jq]=jq [tmux]=tmux [node]=nodejs [npm]=npm)
for tool in "${!provider[@]}"; do
  users=$(grep -lE "(^|[^[:alnum:]_./-])$tool([[:space:]]|\$)" tests/e2e/*.sh | xargs -r -n1 basename | tr '\n' ' ')
  [ -z "$users" ] && continue
  if grep -qx "${provider[$tool]}" <<<"$pkgs"; then pass "$tool (used by $users) <- ${provider[$tool]}"
  else fail "$tool is used by $users but setup.sh --tests does not install ${provider[$tool]}"; fi
done
grep -qx nodejs <<<"$build_pkgs" && fail "the plain (demo) set-up installs test-only nodejs"
grep -q 'setup.sh --tests' scripts/test.sh && pass "scripts/test.sh runs setup.sh --tests" \
  || fail "scripts/test.sh does not run setup.sh --tests"
[ ! -f .ci/run ] || grep -q 'setup.sh --tests' .ci/run || grep -q 'scripts/test.sh' .ci/run \
  || fail ".ci/run does not install the test tools"

for p in $pkgs; do
  grep -q "\`$p\`" README.md && pass "README lists $p" || fail "README's dependency tables do not list \`$p\`"
done
grep -q '`../shared` is' README.md && grep -q 'models/README.md' README.md \
  && pass "README says what ../shared is" || fail "README does not say what ../shared is"

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "setup covers the tests"
