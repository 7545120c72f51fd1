#!/bin/bash
# Packs what a `device` (16-core machine) run needs into build-device/carry: latte, synth_model, bandwidth,
# bench_regions, bench_kernels from BUILD (default build/), every non-libc shared library they load, the
# DeepSeek-V3 vocab GGUF (for synth_model), the peer runtimes (../shared/peers: tarballs + peer script, in lb/peers)
# and the device scripts (run_scaling.sh, run_prefill.sh, run_decode.sh). The carry stays under 64 MiB (checked).
# Carry build-device/carry to the device and run:
#   mkdir -p /tmp/x && tar -C /tmp/x -xJf build-device/carry/bundle.tar.xz && bash /tmp/x/lb/run_decode.sh /tmp/x/lb
#   ... && bash /tmp/x/lb/run_prefill.sh /tmp/x/lb    (or run_scaling.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SHARED=${LATTE_SHARED_DIR:-$ROOT/../shared}
OUTD=$ROOT/build-device; S=$OUTD/stage/lb
rm -rf "$OUTD/stage"; mkdir -p "$S/bin" "$S/lib" "$OUTD/carry"
for b in latte synth_model bandwidth bench_regions bench_kernels; do cp "$BUILD/$b" "$S/bin/"; done
strip "$S/bin/"*
for exe in "$S/bin/"*; do ldd "$exe" | awk '/=> \// {print $1, $3}'; done | sort -u | while read -r name path; do
  case $name in libc.so.6|libm.so.6) ;; *) cp -L "$path" "$S/lib/$name" ;; esac
done
cp "$SHARED/models/deepseek-v3-vocab.gguf" "$S/vocab.gguf"
cp "$ROOT/bench/device/run_scaling.sh" "$ROOT/bench/device/run_prefill.sh" "$ROOT/bench/device/run_decode.sh" \
   "$ROOT/bench/device/run_session.sh" "$S/"
mkdir -p "$S/peers" && cp "$SHARED/peers/peer" "$SHARED/peers/"*.tar.xz "$S/peers/"
tar -C "$OUTD/stage" -cf - lb | xz -6 -T2 > "$OUTD/carry/bundle.tar.xz"
ls -la "$OUTD/carry/bundle.tar.xz"
size=$(du -sb "$OUTD/carry" | cut -f1)
(( size <= 64 * 1024 * 1024 )) || { echo "bundle.sh: carry is $size bytes, over the 64 MiB limit" >&2; exit 1; }
