#!/bin/bash
# Device-side decode run (issue 14), one call: on the 16-core machine, generate a V2-Lite-shaped Q8_0 with
# synth_model, make llama.cpp's own Q4_K_M mix from it with the carried llama.cpp llama-quantize (16 threads), then
# for both files: the latte sweep `latte bench -t 1,2,4,8,16` (repacked, default) and ik_llama.cpp llama-bench
# (-mla 3 -fa 1 -fmoe 1, with and without -rtr 1, at 16 and 8 threads). Writes into $OUT: summary.md (one table),
# summary.json, per-run JSON, SVG plots, logs, machine facts.
# Usage (after bundle.sh):  bash run_decode.sh BUNDLE_DIR
# env: TLIST=1,2,4,8,16  N=32 (tg tokens)  R=3 (repetitions)  IKT="16 8"  PRESET=v2-lite  GEN_T=16
#      BUDGET=570 (seconds: steps that would start after it are skipped and listed)  EXTRA="" (latte bench flags)
#      FILES="q4km q8" (which files to measure, in that order)  NOREPACK=1 (also a latte --no-repack run at 16 t)
set -u
B=$(cd "${1:?usage: run_decode.sh BUNDLE_DIR}" && pwd)
O=${OUT:-/tmp/out}; mkdir -p "$O"; T0=$(date +%s)
TLIST=${TLIST:-1,2,4,8,16}; N=${N:-32}; R=${R:-3}; IKT=${IKT:-"16 8"}; PRESET=${PRESET:-v2-lite}; GEN_T=${GEN_T:-16}
BUDGET=${BUDGET:-570}; FILES=${FILES:-"q4km q8"}
el() { echo $(( $(date +%s) - T0 )); }
log() { echo "[$(el)s] $*" | tee -a "$O/run.log"; }
left() { echo $(( BUDGET - $(el) )); }
skip() { log "SKIPPED (time): $*"; echo "$*" >> "$O/skipped.txt"; }
export LD_LIBRARY_PATH=$B/lib
export LATTE_PEERS_CACHE=${LATTE_PEERS_CACHE:-/tmp/latte-peers}
{ date -u; uname -a; echo "nproc $(nproc)"; lscpu; head -3 /proc/meminfo; cat /proc/loadavg
  cat /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag 2>&1; } > "$O/facts.txt" 2>&1
"$B/bin/latte" --version >> "$O/facts.txt" 2>&1 || { log "latte does not run here"; exit 3; }
D=${MODEL_DIR:-/var/tmp/latte_m}; mkdir -p "$D"
Q8=$D/v2lite-q8_0.gguf; Q4=$D/v2lite-q4_k_m-llama.gguf
PEER=
for d in ${PEERS:-} "$B/peers" "$PWD/build-device/carry/peers"; do [[ -x $d/peer ]] && { PEER=$d/peer; break; }; done
[[ -n $PEER ]] || echo "no peers carried (ik and llama-quantize unavailable)" >> "$O/facts.txt"

if [[ ! -s $Q8 ]]; then
  log "synth_model --preset $PRESET --type q8_0 ($GEN_T threads)"
  timeout $(left) "$B/bin/synth_model" --preset "$PRESET" --type q8_0 -t "$GEN_T" --vocab "$B/vocab.gguf" --out "$Q8" \
    --quiet > "$O/gen.log" 2>&1 || { log "Q8_0 generation failed (rc $?)"; exit 3; }
fi
log "Q8_0: $(stat -c %s "$Q8") bytes"
if [[ $FILES == *q4km* && ! -s $Q4 ]]; then
  if [[ -n $PEER ]]; then
    log "llama-quantize Q4_K_M ($GEN_T threads)"
    timeout $(left) "$PEER" llama.cpp llama-quantize --allow-requantize "$Q8" "$Q4" Q4_K_M "$GEN_T" > "$O/quantize.log" 2>&1 \
      || { log "llama-quantize failed (rc $?), see quantize.log"; rm -f "$Q4"; }
  else
    log "no carried peers: latte quantize (Latte's mix, not llama.cpp's)"
    timeout $(left) "$B/bin/latte" quantize "$Q8" "$Q4" Q4_K_M > "$O/quantize.log" 2>&1 || rm -f "$Q4"
  fi
  [[ -s $Q4 ]] && log "Q4_K_M: $(stat -c %s "$Q4") bytes"
fi
sync

latte_sweep() {  # $1 tag $2 file
  (( $(left) > 60 )) || { skip "latte sweep $1"; return; }
  log "latte bench $1 -t $TLIST"
  timeout $(left) "$B/bin/latte" bench -m "$2" -p 0 -n "$N" -r "$R" -t "$TLIST" --json --svg "$O/latte_$1.svg" ${EXTRA:-} \
    > "$O/latte_$1.json" 2>> "$O/run.log" || log "latte sweep $1 failed or timed out"
  if [[ ${NOREPACK:-0} == 1 ]] && (( $(left) > 40 )); then
    timeout $(left) "$B/bin/latte" bench -m "$2" -p 0 -n "$N" -r "$R" -t 16 --json --no-repack \
      > "$O/latte_$1_norepack.json" 2>> "$O/run.log" || log "latte --no-repack $1 failed"
  fi
}
ik_runs() {  # $1 tag $2 file
  [[ -n $PEER ]] || { log "no peers carried: ik skipped"; return; }
  for t in $IKT; do
    for rtr in 1 0; do
      (( $(left) > 45 )) || { skip "ik $1 -t $t -rtr $rtr"; continue; }
      log "ik llama-bench $1 -t $t -rtr $rtr"
      timeout $(left) "$PEER" ik llama-bench -m "$2" -t "$t" -p 0 -n "$N" -r "$R" -mla 3 -fa 1 -fmoe 1 -rtr $rtr -o json \
        > "$O/ik_$1_t${t}_rtr$rtr.json" 2> "$O/ik_$1_t${t}_rtr$rtr.err" || log "ik $1 -t $t -rtr $rtr failed"
    done
  done
}
for f in $FILES; do
  case $f in q4km) M=$Q4 ;; q8) M=$Q8 ;; *) log "unknown file tag $f"; continue ;; esac
  [[ -s $M ]] || { log "no file for $f"; continue; }
  latte_sweep "$f" "$M"
  ik_runs "$f" "$M"
done

python3 - "$O" <<'PY' || log "summary failed"
import glob, json, os, sys
O = sys.argv[1]
def load(p):
    try: return json.load(open(p))
    except Exception: return None
rows, out = [], {"latte": {}, "ik": {}}
print_lines = ["# Decode on the device: latte sweep and ik_llama.cpp, tg (median of repetitions)\n",
               "| file | runtime | weights | threads | t/s | min – max | read probe GB/s | % roofline | ratio to ik best |",
               "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
ikbest = {}
for p in sorted(glob.glob(f"{O}/ik_*_t*_rtr*.json")):
    tag = os.path.basename(p).split("_")[1]
    j = load(p) or []
    for e in j:
        if e.get("n_gen", 0) > 0:
            t = e.get("n_threads"); rtr = "rtr" if "_rtr1" in p else "mmap"
            out["ik"].setdefault(tag, []).append({"threads": t, "weights": rtr, "tps": e.get("avg_ts"), "sd": e.get("stddev_ts")})
            ikbest[tag] = max(ikbest.get(tag, 0), e.get("avg_ts", 0))
for tag in ("q4km", "q8"):
    for p in [f"{O}/latte_{tag}.json", f"{O}/latte_{tag}_norepack.json"]:
        j = load(p)
        if not j: continue
        runs = j.get("sweep", [j])
        out["latte"].setdefault(tag, []).append(j)
        for r in runs:
            t = r["tests"][0]
            best = ikbest.get(tag, 0)
            print_lines.append("| %s | latte | %s | %d | %.2f | %.2f – %.2f | %.1f | %.1f | %s |" % (
                tag, j.get("weights", "?"), r["threads"], t["tps_median"], t["tps_min"], t["tps_max"],
                r.get("read_bandwidth", {}).get("gbs_median", 0), r.get("tg_percent_of_roofline", 0),
                "%.2f" % (t["tps_median"] / best) if best else "-"))
    for e in out["ik"].get(tag, []):
        print_lines.append("| %s | ik_llama.cpp | %s | %s | %.2f | ± %.2f | | | |" % (tag, e["weights"], e["threads"], e["tps"], e["sd"]))
open(f"{O}/summary.md", "w").write("\n".join(print_lines) + "\n")
json.dump(out, open(f"{O}/summary.json", "w"), indent=1)
print("\n".join(print_lines))
PY
[[ -f $O/skipped.txt ]] && log "skipped steps: $(tr '\n' ';' < "$O/skipped.txt")"
log done
