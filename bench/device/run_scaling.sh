#!/bin/bash
# Device-side run (see bundle.sh): machine facts, fork/join cost per thread count, read bandwidth, decode tg64 at
# 1/2/4/8/16 threads and prompt processing pp512 at 2 and 16 threads of a synthetic V2-Lite Q4_K_M model, with
# oneDNN's verbose log of the 2-thread prefill (which ISA / AMX kernels ran). Writes into $OUT.
# Usage: bash run_scaling.sh BUNDLE_DIR
set -u
B=$1; O=${OUT:-/tmp/out}; mkdir -p "$O"; T0=$(date +%s)
TLIST=${TLIST:-"1 2 4 8 16"}
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$O/run.log"; }
export LD_LIBRARY_PATH=$B/lib
{ date -u; uname -a; nproc; lscpu; head -3 /proc/meminfo; cat /proc/loadavg; } > "$O/facts.txt" 2>&1
D=/var/tmp/latte_m; mkdir -p "$D"; M=$D/v2-lite-q4_k_m.gguf
"$B/bin/synth_model" --preset v2-lite --type q4_k_m -t 16 --vocab "$B/vocab.gguf" --out "$M" --quiet > "$O/gen.log" 2>&1 \
  || { log "generation failed"; exit 3; }
sync; log "generated $(stat -c %s "$M") bytes"
"$B/bin/bench_regions" 16 20000 > "$O/regions.md" 2>&1; log "regions:"; cat "$O/regions.md" | tee -a "$O/run.log"
for t in $TLIST; do
  timeout 120 "$B/bin/latte" bench -m "$M" -p 0 -n 64 -r 3 -t $t --json > "$O/tg$t.json" 2>>"$O/run.log" \
    && python3 -c "import json;j=json.load(open('$O/tg$t.json'));t=j['tests'][0];print('tg64 t=%d %.2f t/s (min %.2f max %.2f) probe %.1f GB/s %.1f%% roofline'%(j['threads'],t['tps_median'],t['tps_min'],t['tps_max'],j['read_bandwidth']['gbs_median'],j['tg_percent_of_roofline']))" | tee -a "$O/run.log" \
    || log "tg -t $t failed"
done
for t in ${PPLIST:-2 16}; do
  (( $(date +%s) - T0 < ${PP_DEADLINE:-480} )) || { log "skip pp512 -t $t (time)"; continue; }
  ONEDNN_VERBOSE=1 timeout 150 "$B/bin/latte" bench -m "$M" -p 512 -n 0 -r 2 -t $t --json --no-bandwidth \
    > "$O/pp$t.out" 2>>"$O/run.log"
  grep -v '^onednn_verbose' "$O/pp$t.out" > "$O/pp$t.json"
  grep '^onednn_verbose' "$O/pp$t.out" | awk -F, '{print $2, $3, $4, $5}' | sort | uniq -c | sort -rn | head -12 > "$O/pp$t.onednn.txt"
  python3 -c "import json;j=json.load(open('$O/pp$t.json'));t=j['tests'][0];print('pp512 t=%d %.2f t/s (min %.2f max %.2f)'%(j['threads'],t['tps_median'],t['tps_min'],t['tps_max']))" | tee -a "$O/run.log"
  log "oneDNN kernels (t=$t):"; cat "$O/pp$t.onednn.txt" | tee -a "$O/run.log"
done
log done
