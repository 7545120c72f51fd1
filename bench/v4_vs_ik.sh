#!/usr/bin/env bash
# The DeepSeek-V4-Flash slice (synth_model --preset v4-flash-slice: layers window, window, CSA, HCA at full
# width, ratios 4 and 128) beside ik_llama.cpp: logits agreement on a perplexity run, then `latte bench` and ik's
# llama-bench in the same run on two files — Q4_K_M in ik's own llama-quantize mix (llama.cpp c392e50 predates
# deepseek4) and the release's mix (MXFP4 experts, Q8_0 elsewhere).
#
#   bench/v4_vs_ik.sh [DIR]        (default DIR: synth-models/v4 in the checkout, git-ignored)
#
# Environment: BUILD=build, PEER=../shared/peers/peer, THREADS=2, EXPERTS=16 (routed experts kept in the slice:
# ~2-3.5 GB per file instead of ~14 GB, and ik's requantization is 16x shorter; the bytes read per token do not
# depend on it), STEPS="gen ppl
# bench", VAL=../shared/models/validation/val.txt, CHUNKS=2.
set -euo pipefail
DIR=${1:-synth-models/v4}
BUILD=${BUILD:-build}
PEER=${PEER:-../shared/peers/peer}
THREADS=${THREADS:-2}
EXPERTS=${EXPERTS:-16}
STEPS=${STEPS:-"gen ppl bench"}
VAL=${VAL:-../shared/models/validation/val.txt}
CHUNKS=${CHUNKS:-2}
VOCAB=${VOCAB:-../shared/models/deepseek-v3-vocab.gguf}
mkdir -p "$DIR"
MX="$DIR/v4-flash-slice-e$EXPERTS-mxfp4_moe.gguf"
Q8="$DIR/v4-flash-slice-e$EXPERTS-q8_0.gguf"
Q4="$DIR/v4-flash-slice-e$EXPERTS-q4_k_m-ik.gguf"
has() { [[ " $STEPS " == *" $1 "* ]]; }

if has gen; then
  if [[ ! -f $Q4 ]]; then
    "$BUILD/synth_model" --preset v4-flash-slice --experts "$EXPERTS" --type q8_0 --vocab "$VOCAB" --out "$Q8" -t "$THREADS" -q
    "$PEER" ik llama-quantize --allow-requantize "$Q8" "$Q4" Q4_K_M "$THREADS" > "$DIR/ik-quantize.log" 2>&1
    rm -f "$Q8"
  fi
  [[ -f $MX ]] || "$BUILD/synth_model" --preset v4-flash-slice --experts "$EXPERTS" --vocab "$VOCAB" --out "$MX" -t "$THREADS" -q
  ls -la "$DIR"
fi

if has ppl; then
  for f in "$MX" "$Q4"; do
    echo "== perplexity, $(basename "$f"), $CHUNKS chunks of 512"
    "$BUILD/latte" perplexity -m "$f" -f "$VAL" --chunks "$CHUNKS" -t "$THREADS" --json > "$DIR/latte-ppl-$(basename "$f").json"
    cat "$DIR/latte-ppl-$(basename "$f").json"; echo
    "$PEER" ik llama-perplexity -m "$f" -f "$VAL" -c 512 -b 512 --chunks "$CHUNKS" -t "$THREADS" -fa 1 \
      > "$DIR/ik-ppl-$(basename "$f").log" 2>&1 || true
    grep -E "^\[|Final estimate|error" "$DIR/ik-ppl-$(basename "$f").log" | tail -n 4
  done
fi

if has bench; then
  for f in "$Q4" "$MX"; do
    echo "== bench $(basename "$f"), $THREADS threads"
    "$BUILD/latte" bench -m "$f" -t "$THREADS" -p 512 -n 64 -r 3 --json > "$DIR/latte-bench-$(basename "$f").json"
    cat "$DIR/latte-bench-$(basename "$f").json"; echo
    "$PEER" ik llama-bench -m "$f" -t "$THREADS" -p 512 -n 64 -r 3 -fa 1 -fmoe 1 -o json > "$DIR/ik-bench-$(basename "$f").json" 2> "$DIR/ik-bench-$(basename "$f").err" || true
    cat "$DIR/ik-bench-$(basename "$f").json"
    "$PEER" ik llama-bench -m "$f" -t "$THREADS" -p 512 -n 64 -r 3 -fa 1 -fmoe 1 -rtr 1 -o json > "$DIR/ik-bench-rtr-$(basename "$f").json" 2> "$DIR/ik-bench-rtr-$(basename "$f").err" || true
    cat "$DIR/ik-bench-rtr-$(basename "$f").json"
  done
fi
