#!/usr/bin/env bash
# Generates the synthetic real-shape models (bench/synth_model) that are missing in DIR and prints the
# `latte bench` table of each.
#
#   bench/run_presets.sh [DIR]                       (default DIR: ./synth-models)
#
# Environment (all optional):
#   BUILD=build            build directory holding `latte` and `synth_model`
#   LATTE=$BUILD/latte     SYNTH=$BUILD/synth_model
#   PRESETS="v2-lite moonlight v3-slice"
#   TYPES="q4_k_m"         e.g. "q4_k_m q8_0 q4_0"
#   V3_LAYERS=4            layers of the v3-slice preset (1 dense + N-1 MoE; ~6.5 GB per MoE layer at q4_k_m)
#   THREADS=               threads for generation and bench (default: physical cores)
#   BENCH_ARGS="-p 512 -n 128 -r 3"
#   GEN_ARGS=              extra synth_model flags (e.g. --exact)
set -euo pipefail

DIR=${1:-./synth-models}
BUILD=${BUILD:-build}
LATTE=${LATTE:-$BUILD/latte}
SYNTH=${SYNTH:-$BUILD/synth_model}
PRESETS=${PRESETS:-"v2-lite moonlight v3-slice"}
TYPES=${TYPES:-"q4_k_m"}
V3_LAYERS=${V3_LAYERS:-4}
THREADS=${THREADS:-}
BENCH_ARGS=${BENCH_ARGS:-"-p 512 -n 128 -r 3"}
GEN_ARGS=${GEN_ARGS:-}

for exe in "$LATTE" "$SYNTH"; do
  [[ -x $exe ]] || { echo "run_presets: $exe not found (build it, or set BUILD / LATTE / SYNTH)" >&2; exit 2; }
done
mkdir -p "$DIR"
tflag=()
[[ -n $THREADS ]] && tflag=(-t "$THREADS")

for preset in $PRESETS; do
  for type in $TYPES; do
    layers=()
    name="$preset-$type"
    if [[ $preset == v3-slice ]]; then
      layers=(--layers "$V3_LAYERS")
      name="$preset$V3_LAYERS-$type"
    fi
    file="$DIR/$name.gguf"
    if [[ ! -f $file ]]; then
      # Size check before writing: the dry run's last line ends in "..., <MB> MB, <bpw> bits/weight".
      need_mb=$("$SYNTH" --preset "$preset" --type "$type" "${layers[@]}" --dry-run | tail -1 |
                sed -E 's/.*, ([0-9.]+) MB, .*/\1/')
      free_mb=$(df -Pm "$DIR" | awk 'NR==2 {print $4}')
      if awk -v n="$need_mb" -v f="$free_mb" 'BEGIN { exit !(n + 1024 > f) }'; then
        echo "run_presets: skipping $name: needs ${need_mb} MB, ${free_mb} MB free in $DIR" >&2
        continue
      fi
      echo "== generating $file (${need_mb} MB)" >&2
      "$SYNTH" --preset "$preset" --type "$type" "${layers[@]}" "${tflag[@]}" --out "$file" $GEN_ARGS >&2
    fi
    echo
    echo "## $name  ($(du -h "$file" | cut -f1))"
    # shellcheck disable=SC2086
    "$LATTE" bench -m "$file" "${tflag[@]}" $BENCH_ARGS
  done
done
