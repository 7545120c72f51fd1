#!/usr/bin/env bash
# e2e: ik_llama.cpp (shared/peers) loads the deepseek4 GGUF that `latte convert` writes of tiny-dsv4: every key and
# all 178 tensors accepted, no tensor missing. ik then stops at context creation, because it hard-codes the HCA
# ratio at 128 and tiny-dsv4 uses 16 (shared/models/tiny-dsv4/README.md, logs/ik-llama-perplexity-f32.log): that
# stop is expected and checked for. Then the files users get from ik's quantizer: `peer ik llama-quantize` makes
# Q8_0 and Q4_K_M of the f32 file (ik quantizes the mHC mixing matrices too); Latte must load and score them, with
# perplexity within the tolerances of shared/models/README.md against Latte's own f32 run (q8_0 <= +0.5 %,
# q4_k_m <= +2.5 %). Exit 77 (skipped) where the peer cannot run on this CPU.
# Args: $1 = latte binary, $2 = shared dir.
set -u
LATTE=${1:?latte binary}
SHARED=${2:?shared dir}
PEER="$SHARED/peers/peer"
[ -x "$PEER" ] || { echo "SKIP: no $PEER"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Does ik run here at all (the build needs AVX-512 VNNI/BF16/VBMI)? peer exits 3 with a message otherwise.
"$PEER" ik llama-perplexity --help > "$tmp/help.txt" 2>&1
rc=$?
if [ $rc -eq 3 ] || [ $rc -eq 126 ] || [ $rc -eq 127 ] || [ $rc -ge 128 ]; then
  echo "SKIP: ik_llama.cpp does not run on this machine: $(tail -n 1 "$tmp/help.txt")"; exit 77
fi
fail=0
err() { echo "FAIL: $*" >&2; fail=1; }
for t in f32 bf16; do
  f="$tmp/tiny-dsv4-$t.gguf"
  "$LATTE" convert "$SHARED/models/tiny-dsv4/hf" "$f" --outtype "$t" -q > /dev/null || { err "convert $t"; continue; }
  log="$tmp/ik-$t.log"
  timeout 300 "$PEER" ik llama-perplexity -m "$f" -f "$SHARED/models/validation/val.txt" -c 512 -b 512 --chunks 1 \
    -t 2 > "$log" 2>&1
  rc=$?
  [ $rc -eq 124 ] && err "$t: ik timed out"
  grep -q "loaded meta data with 57 key-value pairs and 178 tensors" "$log" || err "$t: ik did not read 57 keys / 178 tensors"
  grep -qi "missing tensor\|wrong shape\|error loading model\|check_tensor_dims" "$log" && err "$t: ik rejected a tensor: $(grep -i -m1 "missing tensor\|wrong shape\|error loading model\|check_tensor_dims" "$log")"
  grep -q "llm_load_tensors:" "$log" || err "$t: ik did not reach tensor loading"
  # The expected stop: the HCA ratio 16 of tiny-dsv4 against ik's hard-coded 128.
  if ! grep -q "dsv4_validate_comp_plan" "$log"; then
    if [ $rc -eq 0 ]; then echo "note: $t: ik ran the model (its HCA ratio is no longer hard-coded?)"
    else err "$t: ik failed, but not at the expected HCA-ratio check: $(tail -n 3 "$log" | tr '\n' ' ')"; fi
  fi
  echo "$t: ik loaded all tensors; stop: $(grep -m1 "dsv4_validate_comp_plan" "$log" || echo none)"
done
# ik-quantized files (made by ik's llama-quantize, its own type mix) run in Latte.
ppl() {  # $1 = model: prints Latte's perplexity over 2 chunks of 512 of val.txt
  "$LATTE" perplexity -m "$1" -f "$SHARED/models/validation/val.txt" -c 512 --chunks 2 -t 2 --json 2>"$tmp/ppl.err" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])' 2>/dev/null
}
base="$tmp/tiny-dsv4-f32.gguf"
if [ -f "$base" ]; then
  p0=$(ppl "$base")
  [ -n "$p0" ] || err "latte perplexity on f32: $(tail -n 1 "$tmp/ppl.err")"
  for q in "Q8_0 0.005" "Q4_K_M 0.025"; do
    set -- $q
    out="$tmp/tiny-dsv4-ik-$1.gguf"
    timeout 300 "$PEER" ik llama-quantize "$base" "$out" "$1" 2 > "$tmp/quant-$1.log" 2>&1 ||
      { err "ik llama-quantize $1: $(tail -n 1 "$tmp/quant-$1.log")"; continue; }
    p=$(ppl "$out")
    if [ -z "$p" ]; then err "latte cannot score ik's $1 file: $(tail -n 1 "$tmp/ppl.err")"; continue; fi
    python3 -c "import sys; p0,p,t=$p0,$p,$2; sys.exit(0 if p <= p0*(1+t) else 1)" ||
      err "ik $1: perplexity $p vs f32 $p0 (allowed +$(python3 -c "print($2*100)") %)"
    echo "ik $1: latte perplexity $p (f32 $p0); mHC types: $(grep -m1 -o "hc_attn_fn.weight.*" "$tmp/quant-$1.log" | head -c 120)"
  done
fi
if [ $fail -ne 0 ]; then echo "ik_load_v4 e2e: FAILED" >&2; exit 1; fi
echo "ik_load_v4 e2e: OK"
