#!/bin/bash
# e2e: the README tells the truth about defaults. Every bracketed default in the README's "CLI at a glance" table
# (`[-n 256]`, `[--port 8080]` ...) and every "(default)" value in the `latte serve` flag table is what
# `latte CMD --help` states for that flag; and where it is cheap, what the binary does: `run` without -n stops at
# 256 tokens (or end of generation), `run`'s context is 4096 capped to the model's training context (2048 for the
# tiny model, with no warning), `-c 1000` gives 1000.
# Usage: docs_defaults.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
README="$ROOT/README.md"
Q4="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# help_has CMD FLAG VALUE: the --help line of FLAG says its default is VALUE ("(default V" / "default V" / "=V")
help_has() {
  "$LATTE" "$1" --help >"$tmp/help.$1" 2>&1 || { fail "latte $1 --help failed"; return; }
  local line
  line=$(grep -E "^ +([^ ]+, ?)*$2([ ,=]|$)" "$tmp/help.$1" | head -1)
  # CLI11 wraps long descriptions: take the flag's line and the indented lines after it
  line=$(awk -v f="$2" 'BEGIN{p=0} { if ($0 ~ "^ +(-[^ ]+, ?)*" f "([ ,=]|$)") {p=1; print; next} if (p && $0 ~ /^ {10,}[^ -]/) print; else p=0 }' "$tmp/help.$1" | tr '\n' ' ')
  local v="${3//./\\.}"
  if [ -z "$line" ]; then fail "latte $1 --help has no $2 flag"
  elif grep -qE "(default:? $v([^0-9.]|\$)|=$v([^0-9.]|\$)|default $v;)" <<<"$line"; then pass "$1 $2 default $3"
  else fail "README says latte $1 $2 defaults to $3; --help says: $(sed 's/  */ /g' <<<"$line")"; fi
}

# ---- the CLI table: rows "| `latte CMD ... [-X VALUE] ...` | ... |"; VALUE a number or a dotted address
n_checked=0
while IFS= read -r row; do
  cmd=$(sed -E 's/^\| `latte ([a-z]+) .*/\1/' <<<"$row")
  while IFS= read -r pair; do
    [ -z "$pair" ] && continue
    flag=${pair%% *}
    val=${pair#* }
    help_has "$cmd" "$flag" "$val"
    n_checked=$((n_checked + 1))
  done < <(grep -oE '\[-{1,2}[a-z-]+ [0-9][0-9.]*\]' <<<"$row" | tr -d '[]')
done < <(sed -n '/^## The CLI at a glance/,/^## /p' "$README" | grep -E '^\| `latte [a-z]+ ')
[ "$n_checked" -ge 8 ] && pass "$n_checked bracketed defaults in the CLI table checked" \
  || fail "only $n_checked bracketed defaults found in the README's CLI table"

# ---- the serve flag table: "| `--port` ... | meaning (`127.0.0.1`, `8080` ...) |" rows with simple values
sed -n '/^## Serving/,/^Endpoints:/p' "$README" >"$tmp/serve.md"
grep -q '`--host`, `--port` | listen address (`127.0.0.1`, `8080`' "$tmp/serve.md" \
  && { help_has serve --host 127.0.0.1; help_has serve --port 8080; } || fail "README serve table: no --host/--port row"
par=$(sed -nE 's/^\| `--parallel N` \| .*\(([0-9]+)\).*/\1/p' "$tmp/serve.md")
[ -n "$par" ] && help_has serve --parallel "$par" || fail "README serve table: no --parallel default"
ctx=$(sed -nE 's/^\| `-c, --ctx-size N` \| context tokens per session \(([0-9]+).*/\1/p' "$tmp/serve.md")
[ -n "$ctx" ] && help_has serve --ctx-size "$ctx" || fail "README serve table: no -c, --ctx-size default"
grep -q "latte serve -m model.gguf  *# 127.0.0.1:8080, ${par:-?} parallel sessions, ${ctx:-?}-token context" "$tmp/serve.md" \
  && pass "serve example comment matches the defaults" || fail "serve example comment does not match the defaults"

# ---- behaviour: run's -n and -c defaults
"$LATTE" run -m "$Q4" -p "The" --temp 0 -t 1 --json >"$tmp/run.json" 2>"$tmp/run.err"
python3 - "$tmp/run.json" <<'EOF' && pass "run without -n: 256 tokens or end of generation" || fail "run -n default"
import json, sys
j = json.load(open(sys.argv[1]))
n, why = len(j["tokens"]), j["stop_reason"]
print(f"  {n} tokens, stop: {why}")
sys.exit(0 if (n == 256 and why != "eog") or (n < 256 and why == "eog") else 1)
EOF
grep -q "for n_ctx 2048" "$tmp/run.err" && ! grep -q warning "$tmp/run.err" \
  && pass "run's default context: 4096 capped to the model's 2048, silently" || fail "run default ctx: $(cat "$tmp/run.err")"
"$LATTE" run -m "$Q4" -p "The" -n 1 -t 1 -c 1000 >/dev/null 2>"$tmp/run.err"
grep -q "for n_ctx 1000" "$tmp/run.err" && pass "run -c 1000 gives 1000" || fail "run -c 1000: $(cat "$tmp/run.err")"

[ "$failures" = 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "README defaults match --help and the code"
