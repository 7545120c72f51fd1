#!/bin/bash
# e2e (CI variant of bench/soak.sh): 5,000 generated tokens in one session with -c 128 (dozens of context shifts);
# fails if resident memory (VmRSS or RssAnon) grows by more than 2 MiB after a 1,000-token warm-up, or if the
# driver errors. Uses the `soak` program built next to the latte binary.
# Usage: soak_short.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
SOAK="$(dirname "$LATTE")/soak"
MODEL="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
if [ ! -x "$SOAK" ]; then
  echo "FAIL: $SOAK not built (cmake --build <dir> --target soak)"
  exit 1
fi
out=$(timeout 300 "$SOAK" -m "$MODEL" -n 5000 -c 128 --every 250 --warmup 1000 --max-growth 2 -t 1 2>&1)
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
  echo "FAIL: soak exited $rc"
  exit 1
fi
shifts=$(echo "$out" | sed -n 's/.* \([0-9][0-9]*\) context shifts.*/\1/p')
if [ -z "$shifts" ] || [ "$shifts" -lt 20 ]; then
  echo "FAIL: expected >= 20 context shifts, got '${shifts}'"
  exit 1
fi
echo "$out" | grep -q "verdict: FLAT" || { echo "FAIL: no FLAT verdict"; exit 1; }
echo "ok: resident memory flat over 5000 tokens, $shifts context shifts"
