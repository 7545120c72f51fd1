#!/bin/bash
# Device-side prefill run (see bundle.sh): makes a V2-Lite-shaped Q4_K_M file with llama.cpp's own type mix there
# (synth_model Q8_0 -> llama.cpp llama-quantize Q4_K_M), then on that one file:
#   latte bench -p 512 -n 0 --profile at each thread count of TLIST and each depth of DLIST (phase tables kept),
#   ik_llama.cpp llama-bench -p 512 -n 0 -mla 3 -fa 1 -fmoe 1 at IK_T threads, without and with -rtr 1,
# and writes one table, $OUT/prefill.md (plus every JSON / profile / log beside it).
# Usage: bash run_prefill.sh BUNDLE_DIR        (BUNDLE_DIR = the unpacked lb/ folder: bin/, lib/, peers/, vocab.gguf)
# Knobs: TLIST="2 8 16" DLIST="0 8192" REPS=3 IK_T=16 IK_REPS=3 BUDGET=540 (seconds; runs that would start
# after it are skipped and listed as such), MODEL_DIR=/var/tmp/latte_m (the model is reused when already there),
# STAGES="model latte ik" (any subset), QUANT_THREADS (default: all cores).
set -u
B=$(cd "${1:?usage: run_prefill.sh BUNDLE_DIR}" && pwd)
O=${OUT:-/tmp/out}; mkdir -p "$O"; T0=$(date +%s)
TLIST=${TLIST:-"2 8 16"}; DLIST=${DLIST:-"0 8192"}; REPS=${REPS:-3}
tmax=$(echo $TLIST | tr ' ' '\n' | sort -n | tail -1)
IK_T=${IK_T:-16}; IK_REPS=${IK_REPS:-3}; BUDGET=${BUDGET:-540}; STAGES=${STAGES:-"model latte ik"}
D=${MODEL_DIR:-/var/tmp/latte_m}; mkdir -p "$D"
Q8=$D/v2lite-q8_0.gguf; M=$D/v2lite-q4_k_m-llama.gguf
export LD_LIBRARY_PATH=$B/lib
export LATTE_PEERS_CACHE=${LATTE_PEERS_CACHE:-/var/tmp/latte-peers}
el() { echo $(( $(date +%s) - T0 )); }
log() { echo "[$(el)s] $*" | tee -a "$O/run.log"; }
has() { [[ " $STAGES " == *" $1 "* ]]; }
left() { echo $(( BUDGET - $(el) )); }
{ date -u; uname -a; nproc; lscpu; head -3 /proc/meminfo; cat /proc/loadavg; } > "$O/facts.txt" 2>&1
ROWS=$O/rows.md; : > "$ROWS"

# ---- the model (llama.cpp's Q4_K_M mix of a V2-Lite-shaped synthetic Q8_0)
if has model && [[ ! -s $M ]]; then
  if [[ ! -s $Q8 ]]; then
    "$B/bin/synth_model" --preset v2-lite --type q8_0 --vocab "$B/vocab.gguf" --out "$Q8" --quiet \
      > "$O/gen.log" 2>&1 || { log "synth_model failed (gen.log)"; exit 3; }
    log "generated $Q8 ($(stat -c %s "$Q8") bytes)"
  fi
  bash "$B/peers/peer" llama.cpp llama-quantize --allow-requantize "$Q8" "$M.tmp" Q4_K_M "${QUANT_THREADS:-$(nproc)}" \
    > "$O/quantize.log" 2>&1 && mv "$M.tmp" "$M" || { log "llama-quantize failed (quantize.log)"; exit 3; }
  log "quantized $M ($(stat -Lc %s "$M") bytes)"
  rm -f "$Q8"  # 16 GB: not needed any more
fi
[[ -s $M ]] || { log "no model at $M (run the model stage first)"; exit 3; }
cat "$M" > /dev/null  # into the page cache before timing

# ---- Latte: pp512 per (threads, depth) with the phase profile
if has latte; then
  for d in $DLIST; do
    for t in $TLIST; do
      name="latte pp512 -t $t -d $d"
      # a depth-8192 run fills 8192 tokens first: budget it as ~4 pp512 runs
      need=$(( d > 0 ? 120 : 40 ))
      (( $(left) > need )) || { log "skip $name (budget)"; echo "| latte | $t | $d | skipped (time budget) | | |" >> "$ROWS"; continue; }
      f=$O/latte_t${t}_d${d}
      timeout $(( $(left) > 60 ? $(left) : 60 )) "$B/bin/latte" bench -m "$M" -p 512 -n 0 -r "$REPS" -t "$t" -d "$d" \
        --profile --no-bandwidth --json > "$f.json" 2> "$f.err"
      rc=$?
      if (( rc != 0 )); then log "$name failed rc=$rc ($(tail -1 "$f.err"))"; echo "| latte | $t | $d | failed rc=$rc | | |" >> "$ROWS"; continue; fi
      python3 - "$f.json" "$t" "$d" >> "$ROWS" 2>> "$O/run.log" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); t = j["tests"][0]
print("| latte | %s | %s | %.2f | %.2f – %.2f | %s |" % (sys.argv[2], sys.argv[3], t["tps_median"], t["tps_min"], t["tps_max"], j.get("isa", "")))
EOF
      python3 - "$f.json" > "$f.profile.md" 2>> "$O/run.log" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); t = j["tests"][0]; p = t["profile"]; w = p["wall_seconds"] or 1
print("### %s, %d threads (%d timed reps): %.2f t/s, wall %.3f s" % (t["name"], j["threads"], t["reps"], t["tps_median"], w))
print("| phase | s | % wall | in regions | in libraries | thread idle in regions |\n| --- | --: | --: | --: | --: | --: |")
for ph in p["phases"]:
    if ph["seconds"] <= 0: continue
    reg = ph["region_seconds"]; idle = ph["idle_thread_seconds"] / (reg * p["threads"]) if reg > 0 else 0
    print("| %s | %.3f | %.1f %% | %.1f %% | %.1f %% | %.1f %% |" % (ph["name"], ph["seconds"], 100 * ph["seconds"] / w,
          100 * reg / ph["seconds"], 100 * ph["library_seconds"] / ph["seconds"], 100 * idle))
print("\nidle per thread (s): " + ", ".join("%.2f" % v for v in p["thread_idle_seconds"]))
print("\n| backend | weight type | calls | s | GFLOP/s |\n| --- | --- | --: | --: | --: |")
for g in p["products"]:
    print("| %s | %s | %d | %.3f | %.1f |" % (g["backend"], g["weight_type"], g["calls"], g["seconds"], g["gflop"] / g["seconds"] if g["seconds"] > 0 else 0))
print()
EOF
      log "$(tail -1 "$ROWS")"
    done
  done
  # which oneDNN kernels run (AMX or not): one short verbose run at the largest thread count
  if (( $(left) > 40 )); then
    ONEDNN_VERBOSE=1 timeout 60 "$B/bin/latte" bench -m "$M" -p 512 -n 0 -r 1 -t "$tmax" --no-bandwidth \
      2>/dev/null | grep '^onednn_verbose' | awk -F, '$2 == "exec" {print $4, $5}' | sort | uniq -c | sort -rn | head -12 \
      > "$O/onednn_kernels.txt"
    grep -m1 "cpu,runtime\|isa" <(ONEDNN_VERBOSE=1 timeout 30 "$B/bin/latte" bench -m "$M" -p 64 -n 0 -r 1 -t 2 --no-bandwidth 2>/dev/null) \
      > "$O/onednn_isa.txt" || true
  fi
fi

# ---- ik_llama.cpp on the same file
if has ik; then
  for rtr in 0 1; do
    name="ik pp512 -t $IK_T -rtr $rtr"
    (( $(left) > 60 )) || { log "skip $name (budget)"; echo "| ik_llama.cpp (-rtr $rtr) | $IK_T | 0 | skipped (time budget) | | |" >> "$ROWS"; continue; }
    f=$O/ik_t${IK_T}_rtr$rtr
    timeout $(( $(left) )) bash "$B/peers/peer" ik llama-bench -m "$M" -t "$IK_T" -p 512 -n 0 -r "$IK_REPS" \
      -mla 3 -fa 1 -fmoe 1 -rtr "$rtr" -o json > "$f.json" 2> "$f.err"
    rc=$?
    if (( rc != 0 )); then log "$name failed rc=$rc"; echo "| ik_llama.cpp (-rtr $rtr) | $IK_T | 0 | failed rc=$rc | | |" >> "$ROWS"; continue; fi
    python3 - "$f.json" "$IK_T" "$rtr" >> "$ROWS" 2>> "$O/run.log" <<'EOF'
import json, sys
r = [x for x in json.load(open(sys.argv[1])) if x.get("n_prompt", 0) > 0][0]
s = r.get("samples_ts") or [r["avg_ts"]]
print("| ik_llama.cpp (-rtr %s) | %s | 0 | %.2f | %.2f – %.2f | |" % (sys.argv[3], sys.argv[2], r["avg_ts"], min(s), max(s)))
EOF
    log "$(tail -1 "$ROWS")"
  done
fi

{
  echo "# pp512 on $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(date -u +%F' '%H:%M) UTC"
  echo "model: $(basename "$M") ($(stat -Lc %s "$M") bytes; synth_model v2-lite Q8_0 -> llama.cpp llama-quantize Q4_K_M)"
  echo
  echo "| runtime | threads | depth | pp512 t/s (median) | min – max | kernels |"
  echo "| --- | --: | --: | --: | --: | --- |"
  cat "$ROWS"
  echo
  for f in "$O"/latte_t*_d*.profile.md; do [[ -s $f ]] && cat "$f"; done
  [[ -s $O/onednn_kernels.txt ]] && { echo "oneDNN kernels executed (pp512, -t $tmax):"; echo '```'; cat "$O/onednn_kernels.txt"; echo '```'; }
} > "$O/prefill.md"
cat "$O/prefill.md"
log done
