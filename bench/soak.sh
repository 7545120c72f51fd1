#!/usr/bin/env bash
# Soak test (issue 9): one session generates TOKENS tokens (default 100,000) with a small context (-c 256) so the
# latent cache shifts hundreds of times; resident memory (VmRSS / RssAnon) is sampled every EVERY tokens and
# printed as a curve, with a verdict FLAT / GROWING (max - min after a warm-up <= MAX_GROWTH MiB).
# Usage: bench/soak.sh [MODEL] [TOKENS] [EVERY] [BUILD_DIR]
#   env: SOAK_CTX (256), SOAK_WARMUP (10000), SOAK_MAX_GROWTH (4 MiB), SOAK_THREADS (1), SOAK_CSV (file)
# Exit status: 0 flat, 1 growing, 2 error. Builds the `soak` target in BUILD_DIR (default build) if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-../shared/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf}
tokens=${2:-100000}
every=${3:-5000}
bdir=${4:-build}
if [[ ! -x $bdir/soak ]]; then
  [[ -f $bdir/build.ninja || -f $bdir/Makefile ]] || cmake -S . -B "$bdir" -G Ninja >/dev/null
  cmake --build "$bdir" --target soak
fi
args=(-m "$model" -n "$tokens" -c "${SOAK_CTX:-256}" --every "$every" --warmup "${SOAK_WARMUP:-10000}"
      --max-growth "${SOAK_MAX_GROWTH:-4}" -t "${SOAK_THREADS:-1}")
[[ -n ${SOAK_CSV:-} ]] && args+=(--csv "$SOAK_CSV")
exec "$bdir/soak" "${args[@]}"
