#!/bin/bash
# Where decode time goes: `perf stat` counters per generated token, effective GB/s per product (latte bench
# --profile), the isolated kernels (bench_kernels) for the same types, and optionally ik_llama.cpp beside.
#
#   bench/perf_decode.sh MODEL.gguf [OUTDIR]
#   env: THREADS="1 2" (counts to measure), N=64 (tokens per tg run), R=3 (repetitions), BUILD=build,
#        LATTE_FLAGS="" (extra latte bench flags, e.g. --no-repack), IK=1 (also run ik llama-bench with and without
#        -rtr 1; needs ../shared/peers/peer or PEER=path), KTYPES="q4_k,q5_0,q8_0,q6_k" (bench_kernels types),
#        KERNELS=0 (skip bench_kernels)
#
# Per-token counters are differences of two runs that differ only in the number of timed repetitions (R and 1),
# so loading, populating the mapping, the bandwidth probe and the profile pass cancel out:
#   per token = (counter(R reps) - counter(1 rep)) / (N * (R - 1)).
# Hardware events (cycles, instructions, dTLB, cache misses) are used where this machine's PMU exposes them
# (`perf stat -e EVENT true` is tried first); in VMs without a virtual PMU only the software events remain
# (task-clock = CPU time of all threads, page faults, context switches, migrations), which still tell CPU time
# from wall time: on a shared machine "GB/s per CPU-second" is what the code achieves while scheduled.
# Writes raw files into OUTDIR (default /tmp/perf_decode) and a markdown report on stdout.
set -u
M=${1:?usage: perf_decode.sh MODEL.gguf [OUTDIR]}
O=${2:-/tmp/perf_decode}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$ROOT/build}
THREADS=${THREADS:-"1 2"}; N=${N:-64}; R=${R:-3}
KTYPES=${KTYPES:-q4_k,q5_0,q8_0,q6_k}
PEER=${PEER:-$ROOT/../shared/peers/peer}
mkdir -p "$O"
[[ -f $M ]] || { echo "perf_decode: no model file $M" >&2; exit 2; }
[[ -x $B/latte ]] || { echo "perf_decode: no $B/latte (build it first)" >&2; exit 2; }
(( R >= 2 )) || { echo "perf_decode: R must be >= 2" >&2; exit 2; }

# Events this machine supports.
WANT="task-clock cycles instructions dTLB-loads dTLB-load-misses cache-references cache-misses page-faults context-switches cpu-migrations"
EV=()
if command -v perf >/dev/null; then
  for e in $WANT; do
    out=$(perf stat -x, -e "$e" true 2>&1 >/dev/null)
    if [[ $? == 0 && $out != *"<not supported>"* && $out != *"<not counted>"* ]]; then EV+=("$e"); fi
  done
fi
EVS=$(IFS=,; echo "${EV[*]:-}")
echo "perf events supported here: ${EVS:-none (no perf)}" > "$O/events.txt"

run_latte() {  # $1 threads, $2 reps, $3 tag
  local args=(bench -m "$M" -p 0 -n "$N" -r "$2" -t "$1" --json ${LATTE_FLAGS:-})
  [[ $3 == long ]] && args+=(--profile-decode)
  if [[ -n $EVS ]]; then
    perf stat -x, -e "$EVS" -o "$O/perf_t$1_$3.csv" "$B/latte" "${args[@]}" > "$O/bench_t$1_$3.json" 2> "$O/err_t$1_$3.txt"
  else
    "$B/latte" "${args[@]}" > "$O/bench_t$1_$3.json" 2> "$O/err_t$1_$3.txt"
  fi
}

for t in $THREADS; do
  # Long and short runs alternate so that load changes on a shared machine hit both alike.
  run_latte "$t" "$R" long || echo "latte bench -t $t failed (see $O/err_t${t}_long.txt)" >&2
  run_latte "$t" 1 short || echo "latte bench -t $t (short) failed" >&2
done

for t in $THREADS; do
  [[ ${KERNELS:-1} == 1 ]] || break
  "$B/bench_kernels" -t "$t" -r 5 -m 256 -n 2048 --types "$KTYPES" --isa avx512,avx2 --json \
    > "$O/kernels_t${t}_2048.json" 2> /dev/null
  "$B/bench_kernels" -t "$t" -r 5 -m 256 -n 1408 --types q5_0,q8_0 --isa avx512,avx2 --json > "$O/kernels_t${t}_1408.json" 2> /dev/null
done

if [[ ${IK:-0} == 1 && -x $PEER ]]; then
  for t in $THREADS; do
    for rtr in 0 1; do
      "$PEER" ik llama-bench -m "$M" -t "$t" -p 0 -n "$N" -r "$R" -mla 3 -fa 1 -fmoe 1 -rtr $rtr -o json \
        > "$O/ik_t${t}_rtr$rtr.json" 2> "$O/ik_t${t}_rtr$rtr.err" || echo "ik -t $t -rtr $rtr failed" >&2
    done
  done
fi

python3 - "$O" "$N" "$R" "$THREADS" "$M" <<'EOF'
import json, os, sys, statistics
O, N, R, TL, M = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(), sys.argv[5]
def load(p):
    try: return json.load(open(p))
    except Exception: return None
def perf(p):
    d = {}
    try:
        for line in open(p):
            f = line.strip().split(',')
            if len(f) >= 3 and f[0] and not f[0].startswith('<') and not line.startswith('#'):
                try: d[f[2]] = float(f[0])
                except ValueError: pass
    except OSError: pass
    return d
print("# perf_decode: %s\n" % os.path.basename(M))
print(open(os.path.join(O, "events.txt")).read().strip() + "\n")
rows = []
for t in TL:
    bl, bs = load(f"{O}/bench_t{t}_long.json"), load(f"{O}/bench_t{t}_short.json")
    if not bl: continue
    tg = bl["tests"][0]
    act = bl["active_bytes_per_token"]; bw = bl.get("read_bandwidth", {}).get("gbs_median", 0)
    pl, ps = perf(f"{O}/perf_t{t}_long.csv"), perf(f"{O}/perf_t{t}_short.csv")
    tok = N * (R - 1)
    per = {k: (pl[k] - ps.get(k, 0)) / tok for k in pl if k in ps}
    ms = 1e3 / tg["tps_median"]
    r = {"t": int(t), "tps": tg["tps_median"], "ctps": tg.get("cpu_tps_median", 0), "min": tg["tps_min"], "max": tg["tps_max"], "ms": ms,
         "gbs": act * tg["tps_median"] / 1e9, "bw": bw, "pct": bl.get("tg_percent_of_roofline", 0), "per": per,
         "prof": bl.get("profile"), "weights": bl.get("weights", "mmap"), "act": act}
    rows.append(r)
if rows:
    print("## Decode, latte bench tg%d (median of %d; %s weights)\n" % (N, R, rows[0]["weights"]))
    print("| threads | t/s (min–max) | t/s of CPU time (bench) | GB/s of CPU time | ms/token | effective GB/s | read probe GB/s | % roofline | CPU ms/token (task-clock) | CPU use (of threads) | GB/s per busy thread | page faults/token | ctx switches/token | extra counters/token |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        p = r["per"]
        cpu = p.get("task-clock", 0)  # msec per token (perf reports task-clock in msec)
        use = cpu / (r["ms"] * r["t"]) if cpu else 0
        busy = r["act"] / (cpu / 1e3 / r["t"]) / 1e9 if cpu else 0
        extra = ", ".join("%s %.3g" % (k, v) for k, v in p.items()
                          if k not in ("task-clock", "page-faults", "context-switches", "cpu-migrations"))
        if "dTLB-loads" in p and p.get("dTLB-loads"):
            extra += ", dTLB miss rate %.2f %%" % (100 * p.get("dTLB-load-misses", 0) / p["dTLB-loads"])
        print("| %d | %.2f (%.2f–%.2f) | %.2f | %.2f | %.1f | %.2f | %.2f | %.1f | %.1f | %.0f %% | %.2f | %.1f | %.1f | %s |" % (
            r["t"], r["tps"], r["min"], r["max"], r["ctps"], r["ctps"] * r["act"] / 1e9, r["ms"], r["gbs"], r["bw"], r["pct"], cpu, 100 * use, busy,
            p.get("page-faults", 0), p.get("context-switches", 0), extra or "-"))
    print()
for r in rows:
    pr = r["prof"]
    if not pr: continue
    tok = pr["tokens"]; tot = pr["seconds"] / tok
    print("## Per product, %d thread(s) (profile pass %.2f t/s; wall time per call incl. its parallel region)\n" % (r["t"], tok / pr["seconds"]))
    ctot = pr.get("cpu_seconds", 0) / tok
    print("| product | type | MB/token | ms/token | GB/s | % of token | CPU ms/token (calling thread) | GB/s of CPU time |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    s_sum = b_sum = c_sum = 0
    for e in sorted(pr["products"], key=lambda e: -e["seconds"]):
        s, b, c = e["seconds"] / tok, e["bytes"] / tok, e.get("cpu_seconds", 0) / tok
        s_sum += s; b_sum += b; c_sum += c
        print("| %s | %s | %.2f | %.3f | %.1f | %.1f | %.3f | %.1f |" % (e["role"], e["type"], b / 1e6, 1e3 * s, b / s / 1e9 if s else 0, 100 * s / tot, 1e3 * c, b / c / 1e9 if c else 0))
    print("| all products | | %.2f | %.3f | %.1f | %.1f | %.3f | %.1f |" % (b_sum / 1e6, 1e3 * s_sum, b_sum / s_sum / 1e9 if s_sum else 0, 100 * s_sum / tot, 1e3 * c_sum, b_sum / c_sum / 1e9 if c_sum else 0))
    print("| outside products | | | %.3f | | %.1f | %.3f | |\n" % (1e3 * (tot - s_sum), 100 * (tot - s_sum) / tot, 1e3 * (ctot - c_sum)))
for t in TL:
    for n in (2048, 1408):
        k = load(f"{O}/kernels_t{t}_{n}.json")
        if not k: continue
        print("bench_kernels -t %s, rows of %d, probe %.2f GB/s: " % (t, n, k["probe_gbs"]) +
              ", ".join("%s/%s %.1f GB/s (cpu %.1f)" % (c["type"], c["isa"], c["gbs"], c["cpu_gbs"]) for c in k["cases"] if c["isa"] != "scalar"))
    print()
ik = []
for t in TL:
    for rtr in (0, 1):
        j = load(f"{O}/ik_t{t}_rtr{rtr}.json")
        if not j: continue
        for e in j:
            if e.get("n_gen", 0) > 0:
                ik.append((t, rtr, e.get("avg_ts", 0), e.get("stddev_ts", 0)))
if ik:
    print("## ik_llama.cpp llama-bench tg%d (-mla 3 -fa 1 -fmoe 1)\n" % N)
    print("| threads | -rtr | t/s (mean ± sd) | latte / ik |")
    print("| ---: | ---: | ---: | ---: |")
    for t, rtr, ts, sd in ik:
        lt = next((r["tps"] for r in rows if r["t"] == int(t)), 0)
        print("| %s | %d | %.2f ± %.2f | %.2f |" % (t, rtr, ts, sd, lt / ts if ts else 0))
EOF
