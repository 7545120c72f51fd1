#!/bin/bash
# One device call that fits in its 10-minute limit (see bundle.sh): makes the llama.cpp-mix V2-Lite Q4_K_M there
# (run_prefill.sh's model stage), then on that file, side by side in one run:
#   decode tg64: latte at each thread count of TLIST; ik_llama.cpp at IK_TLIST, with and without -rtr 1
#   prefill pp512: latte (--profile) at PPLIST; ik_llama.cpp at 16 threads
# and writes $OUT/session.md (one table) plus $OUT/raw.tar.gz (every JSON, profile and log).
# Usage: bash run_session.sh BUNDLE_DIR       Knobs: TLIST, IK_TLIST, PPLIST, BUDGET (s, default 560)
set -u
B=$(cd "${1:?usage: run_session.sh BUNDLE_DIR}" && pwd)
O=${OUT:-/tmp/out}; R=$(mktemp -d); T0=$(date +%s)
TLIST=${TLIST:-"1 2 4 8 16"}; IK_TLIST=${IK_TLIST:-"8 16"}; PPLIST=${PPLIST:-"8 16"}; BUDGET=${BUDGET:-560}
export LD_LIBRARY_PATH=$B/lib LATTE_PEERS_CACHE=/var/tmp/latte-peers
el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(el) )); }
log() { echo "[$(el)s] $*" | tee -a "$R/run.log"; }
ROWS=$R/rows.md; : > "$ROWS"
finish() {
  {
    echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(date -u +%F' '%H:%M) UTC"
    echo "model: llama.cpp-mix V2-Lite Q4_K_M ($(stat -Lc %s "$M" 2>/dev/null) bytes)"; echo
    echo "| runtime | test | threads | t/s (median) | min – max | note |"; echo "| --- | --- | --: | --: | --: | --- |"
    cat "$ROWS"; echo
    for f in "$R"/pp_t*.profile.md; do [[ -s $f ]] && cat "$f"; done
  } > "$O/session.md"
  tar -C "$R" -czf "$O/raw.tar.gz" . ; cat "$O/session.md"
}
trap finish EXIT
MODEL_DIR=/var/tmp/latte_m STAGES=model OUT=$R/model bash "$B/run_prefill.sh" "$B" > "$R/model.log" 2>&1
M=/var/tmp/latte_m/v2lite-q4_k_m-llama.gguf
[[ -s $M ]] || { log "no model"; exit 3; }
log "model ready"
latte_row() {  # json test threads note
  python3 - "$@" >> "$ROWS" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); t = j["tests"][0]
note = sys.argv[4]
if j.get("tg_percent_of_roofline") is not None and sys.argv[2] == "tg64":
    note += " %.0f %% of %.0f GB/s roofline" % (j["tg_percent_of_roofline"], j["read_bandwidth"]["gbs_median"])
print("| latte | %s | %s | %.2f | %.2f – %.2f | %s |" % (sys.argv[2], sys.argv[3], t["tps_median"], t["tps_min"], t["tps_max"], note))
EOF
}
ik_row() {  # json test threads note
  python3 - "$@" >> "$ROWS" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))[0]; s = r.get("samples_ts") or [r["avg_ts"]]
print("| ik_llama.cpp | %s | %s | %.2f | %.2f – %.2f | %s |" % (sys.argv[2], sys.argv[3], r["avg_ts"], min(s), max(s), sys.argv[4]))
EOF
}
for t in $TLIST; do
  (( $(left) > 40 )) || { log "skip latte tg -t $t"; continue; }
  timeout 90 "$B/bin/latte" bench -m "$M" -p 0 -n 64 -r 2 -t "$t" --json > "$R/tg_t$t.json" 2> "$R/tg_t$t.err" \
    && latte_row "$R/tg_t$t.json" tg64 "$t" "" || log "latte tg -t $t failed: $(tail -1 "$R/tg_t$t.err")"
done
for t in $IK_TLIST; do for rtr in 0 1; do
  (( $(left) > 50 )) || { log "skip ik tg -t $t -rtr $rtr"; continue; }
  timeout 120 bash "$B/peers/peer" ik llama-bench -m "$M" -t "$t" -p 0 -n 64 -r 2 -mla 3 -fa 1 -fmoe 1 -rtr "$rtr" -o json \
    > "$R/iktg_t${t}_r$rtr.json" 2> "$R/iktg_t${t}_r$rtr.err" && ik_row "$R/iktg_t${t}_r$rtr.json" tg64 "$t" "-rtr $rtr" \
    || log "ik tg -t $t -rtr $rtr failed"
done; done
for t in $PPLIST; do
  (( $(left) > 50 )) || { log "skip latte pp -t $t"; continue; }
  f=$R/pp_t$t
  timeout 120 "$B/bin/latte" bench -m "$M" -p 512 -n 0 -r 2 -t "$t" --profile --no-bandwidth --json > "$f.json" 2> "$f.err" \
    && latte_row "$f.json" pp512 "$t" "" || { log "latte pp -t $t failed"; continue; }
  python3 - "$f.json" > "$f.profile.md" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); t = j["tests"][0]; p = t["profile"]; w = p["wall_seconds"] or 1
print("### pp512, %d threads: %.2f t/s, wall %.3f s" % (j["threads"], t["tps_median"], w))
print("| phase | s | % wall | in libraries | thread idle in regions |\n| --- | --: | --: | --: | --: |")
for ph in p["phases"]:
    if ph["seconds"] <= 0: continue
    reg = ph["region_seconds"]; idle = ph["idle_thread_seconds"] / (reg * p["threads"]) if reg > 0 else 0
    print("| %s | %.3f | %.1f %% | %.1f %% | %.1f %% |" % (ph["name"], ph["seconds"], 100 * ph["seconds"] / w,
          100 * ph["library_seconds"] / ph["seconds"], 100 * idle))
print("\n| backend | weight type | calls | s | GFLOP/s |\n| --- | --- | --: | --: | --: |")
for g in p["products"]:
    print("| %s | %s | %d | %.3f | %.1f |" % (g["backend"], g["weight_type"], g["calls"], g["seconds"], g["gflop"] / g["seconds"] if g["seconds"] > 0 else 0))
print()
EOF
done
if (( $(left) > 50 )); then
  timeout $(( $(left) )) bash "$B/peers/peer" ik llama-bench -m "$M" -t 16 -p 512 -n 0 -r 2 -mla 3 -fa 1 -fmoe 1 -o json \
    > "$R/ikpp_t16.json" 2> "$R/ikpp_t16.err" && ik_row "$R/ikpp_t16.json" pp512 16 "-rtr 0" || log "ik pp failed"
fi
log done
