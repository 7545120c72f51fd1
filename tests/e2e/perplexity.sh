#!/bin/bash
# e2e: `latte perplexity` on tiny-dsv3 — f32 running PPL after 2 chunks within 0.5 % of the reference
# (refs-A/summary.json), the --kld-base save/compare cycle (self-comparison: KL ~ 0, top-1 100 %; q4_k_m within
# loose bounds), and error paths. Usage: perplexity.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
M="$SHARED/models/tiny-dsv3"
VAL="$SHARED/models/validation/val.txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# ---- 1. f32, 2 chunks, saving the base logits
if "$LATTE" perplexity -m "$M/tiny-dsv3-f32.gguf" -f "$VAL" --chunks 2 -t 2 --kld-base "$tmp/base.kld" --json \
    >"$tmp/f32.json" 2>"$tmp/err"; then
  python3 - "$tmp/f32.json" "$M/refs-A/summary.json" <<'PY' && pass "f32 PPL matches the reference" || fail "f32 PPL"
import json, sys
r = json.load(open(sys.argv[1]))
ref = json.load(open(sys.argv[2]))["ppl_llama_protocol_c512_16chunks"]["running_ppl_per_chunk"][1]
print("f32 2-chunk PPL %.4f, reference %.4f, scored %d" % (r["ppl"], ref, r["n_scored"]))
sys.exit(0 if abs(r["ppl"] / ref - 1) < 0.005 and r["n_scored"] == 510 and r["ppl_stderr"] > 0 else 1)
PY
else
  fail "f32 perplexity exited non-zero: $(cat "$tmp/err")"
fi
[ -s "$tmp/base.kld" ] && pass "base logits saved" || fail "--kld-base did not create the file"

# ---- 2. compare f32 against itself: KL 0, full agreement
"$LATTE" perplexity -m "$M/tiny-dsv3-f32.gguf" -f "$VAL" -t 2 --kld-base "$tmp/base.kld" --json >"$tmp/self.json" 2>/dev/null
python3 - "$tmp/self.json" <<'PY' && pass "self-comparison" || fail "self-comparison"
import json, sys
k = json.load(open(sys.argv[1]))["kld"]
print(k)
sys.exit(0 if k["mean_kld"] < 1e-6 and k["top1_agreement"] == 1.0 and k["n"] == 510 else 1)
PY

# ---- 3. q4_k_m against the f32 base (README tolerances are for 16 chunks; 2 chunks get looser bounds)
"$LATTE" perplexity -m "$M/tiny-dsv3-q4_k_m.gguf" -f "$VAL" -t 2 --kld-base "$tmp/base.kld" >"$tmp/q4.txt" 2>/dev/null
if grep -q "^PPL = " "$tmp/q4.txt" && grep -q "mean KLD" "$tmp/q4.txt"; then
  kld=$(sed -n 's/^mean KLD = \([0-9.e-]*\).*/\1/p' "$tmp/q4.txt")
  top1=$(sed -n 's/^top-1 agreement = \([0-9.]*\).*/\1/p' "$tmp/q4.txt")
  if python3 -c "import sys; sys.exit(0 if 0 < $kld < 0.1 and $top1 > 75 else 1)"; then pass "q4_k_m: KLD $kld, top-1 $top1 %"
  else fail "q4_k_m: KLD $kld, top-1 $top1 %"; fi
else
  fail "q4_k_m comparison output: $(cat "$tmp/q4.txt")"
fi

# ---- 4. errors: one line, non-zero
expect_error() {
  local name="$1" pattern="$2"
  shift 2
  "$LATTE" "$@" >/dev/null 2>"$tmp/ee"
  local rc=$?
  if [ $rc -eq 0 ]; then fail "$name: exit 0"
  elif ! tail -1 "$tmp/ee" | grep -qiE -e "$pattern"; then fail "$name: $(cat "$tmp/ee")"
  elif [ "$(grep -c 'error' "$tmp/ee")" -ne 1 ]; then fail "$name: several error lines: $(cat "$tmp/ee")"
  else pass "$name: $(tail -1 "$tmp/ee")"; fi
}
echo "too short" >"$tmp/short.txt"
echo "not a logits file" >"$tmp/bad.kld"
expect_error "text shorter than a chunk" "fewer than one chunk" perplexity -m "$M/tiny-dsv3-q8_0.gguf" -f "$tmp/short.txt"
expect_error "missing text file" "cannot open" perplexity -m "$M/tiny-dsv3-q8_0.gguf" -f "$tmp/none.txt"
expect_error "foreign --kld-base file" "scored-logits" perplexity -m "$M/tiny-dsv3-q8_0.gguf" -f "$VAL" --kld-base "$tmp/bad.kld"
expect_error "different -c than the base" "-c" perplexity -m "$M/tiny-dsv3-q8_0.gguf" -f "$VAL" -c 256 --kld-base "$tmp/base.kld"

echo "failures: $failures"
[ $failures -eq 0 ]
