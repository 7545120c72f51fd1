#!/usr/bin/env bash
# One command: install what is missing, build, and generate text with the bundled demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
MODEL=${1:-models/tiny-dsv3-q4_k_m.gguf}
PROMPT=${2:-"The old man walked into the room and"}
./build/latte run -m "$MODEL" -p "$PROMPT" -n 64 --temp 0.7 --seed 42
