#!/bin/bash
# e2e: `latte bench` on tiny-dsv3 q4_k_m — JSON has both tests with positive medians inside [min, max], the
# bandwidth probe, active bytes, roofline share and cache sizes, the machine's load (busy flag and stderr warning
# consistent with the load average and the CPUs) and wait policy; the markdown table has its rows.
# Usage: bench.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
Q4="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

if "$LATTE" bench -m "$Q4" -p 32 -n 8 -r 2 -t 2 --json >"$tmp/b.json" 2>"$tmp/err"; then
  python3 - "$tmp/b.json" <<'PY' && pass "bench JSON" || fail "bench JSON: $(cat "$tmp/b.json")"
import json, sys
b = json.load(open(sys.argv[1]))
t = {x["name"]: x for x in b["tests"]}
ok = set(t) == {"pp32", "tg8"}
for x in t.values():
    ok &= x["reps"] == 2 and len(x["tps_samples"]) == 2 and 0 < x["tps_min"] <= x["tps_median"] <= x["tps_max"]
bw = b["read_bandwidth"]
ok &= 0.1 < bw["gbs_min"] <= bw["gbs_median"] <= bw["gbs_max"] and bw["buffer_bytes"] >= 2 * bw["llc_bytes"]
ok &= 0 < b["active_bytes_per_token"] <= b["size_bytes"]
ok &= abs(b["tg_percent_of_roofline"] - 100 * t["tg8"]["tps_median"] * b["active_bytes_per_token"]
          / (bw["gbs_median"] * 1e9)) < 1e-6 * max(1.0, b["tg_percent_of_roofline"])
ok &= b["cache"]["bytes_per_token"] > 0 and b["cache"]["bytes_total"] >= 32 * b["cache"]["bytes_per_token"]
print(json.dumps({k: b[k] for k in ("tests", "read_bandwidth", "active_bytes_per_token", "tg_percent_of_roofline")})[:600])
sys.exit(0 if ok else 1)
PY
  # the machine's load: busy = the load average leaves fewer free CPUs than the threads (+0.5), said on stderr
  python3 - "$tmp/b.json" "$(nproc)" "$tmp/err" <<'PY' && pass "bench machine load fields" || fail "machine load"
import json, sys
m = json.load(open(sys.argv[1]))["machine"]
cpus, err = int(sys.argv[2]), open(sys.argv[3]).read()
busy = m["load_average_1min"] > max(0, m["cpus"] - 2) + 0.5
warned = "warning: the machine is busy" in err
print(f"  {m}; warning on stderr: {warned}")
sys.exit(0 if m["cpus"] == cpus and m["busy"] == busy and warned == busy and "wait_policy" in m else 1)
PY
else
  fail "bench --json exited non-zero: $(cat "$tmp/err")"
fi

if "$LATTE" bench -m "$Q4" -p 16 -n 4 -r 1 -t 2 --no-bandwidth -d 16 >"$tmp/b.md" 2>"$tmp/err"; then
  if grep -qE "^\| .* \| pp16 @ d16 \| [0-9.]+ ± " "$tmp/b.md" && grep -qE "\| tg4 @ d16 \|" "$tmp/b.md" \
      && grep -q "latent cache" "$tmp/b.md" && grep -qE "^machine: [0-9]+ CPUs, load average [0-9.]+.*wait policy" "$tmp/b.md"
  then pass "markdown table"; else fail "table: $(cat "$tmp/b.md")"; fi
else
  fail "bench table exited non-zero: $(cat "$tmp/err")"
fi

"$LATTE" bench -m "$Q4" -r 0 >/dev/null 2>&1 && fail "-r 0 accepted" || pass "-r 0 rejected"

# --mem below the file size: routed experts from the expert cache; JSON and table report hit rate, bytes read
# per token and the disk rate, stderr says at load that the model does not fit (5.3 MiB file, 5 MiB budget)
if "$LATTE" bench -m "$Q4" -p 16 -n 8 -r 1 -t 2 --mem 5M --json >"$tmp/c.json" 2>"$tmp/err"; then
  python3 - "$tmp/c.json" <<'PY' && pass "bench --mem JSON: expert cache" || fail "bench --mem JSON: $(cat "$tmp/c.json")"
import json, sys
b = json.load(open(sys.argv[1]))
c = b["expert_cache"]
ok = 0 < c["slots"] < c["experts"] and c["slots"] * c["slot_bytes"] == c["bytes"] and "does not fit" in c["note"]
for t in b["tests"]:
    e = t["expert_cache"]
    ok &= e["hits"] + e["misses"] > 0 and 0 <= e["hit_rate"] <= 1 and e["tokens"] == t["n_tokens"]
    ok &= e["bytes_read"] >= 0 and abs(e["bytes_read_per_token"] - e["bytes_read"] / e["tokens"]) < 1e-6 * (1 + e["bytes_read"])
print(json.dumps(b["tests"][-1]["expert_cache"]))
sys.exit(0 if ok and any(t["expert_cache"]["misses"] > 0 and t["expert_cache"]["disk_read_bytes_per_s"] > 0
                         for t in b["tests"]) else 1)
PY
  grep -q "does not fit; routed experts" "$tmp/err" && pass "--mem: load line on stderr" || fail "no load line: $(cat "$tmp/err")"
else
  fail "bench --mem exited non-zero: $(cat "$tmp/err")"
fi
if "$LATTE" bench -m "$Q4" -p 0 -n 8 -r 1 -t 2 --mem 5M >"$tmp/c.md" 2>"$tmp/err"; then
  grep -qE "^expert cache, tg8 \(2 threads\): hit rate [0-9.]+ % .* read from disk per token, disk [0-9.]+ GB/s" "$tmp/c.md" \
    && grep -q "repacked + expert cache" "$tmp/c.md" && pass "bench --mem table" || fail "table: $(cat "$tmp/c.md")"
else
  fail "bench --mem table exited non-zero: $(cat "$tmp/err")"
fi
"$LATTE" bench -m "$Q4" -p 0 -n 4 -r 1 --mem 1M >/dev/null 2>"$tmp/err" && fail "--mem 1M accepted" \
  || { grep -q "too small" "$tmp/err" && pass "--mem too small: one-line error"; } || fail "--mem 1M: $(cat "$tmp/err")"
"$LATTE" bench -m "$Q4" -p 0 -n 4 -r 1 --mem 6Q >/dev/null 2>&1 && fail "--mem 6Q accepted" || pass "--mem 6Q rejected"

# the wait policy: passive by default (libgomp's spin count 0), the user's choice kept; libgomp prints what it
# runs with (the last OMP_DISPLAY_ENV block is the re-executed process's)
spin() { env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose "$@" "$LATTE" --version 2>&1 |
           sed -n "s/.*GOMP_SPINCOUNT = '\([0-9]*\)'.*/\1/p" | tail -1; }
[ "$(spin)" = 0 ] && pass "default wait policy: passive (spin count 0)" || fail "default spin count $(spin)"
[ "$(spin env OMP_WAIT_POLICY=active)" = 30000000000 ] && pass "OMP_WAIT_POLICY=active kept" \
  || fail "OMP_WAIT_POLICY=active overridden: spin $(spin env OMP_WAIT_POLICY=active)"
[ "$(spin env GOMP_SPINCOUNT=1234)" = 1234 ] && pass "GOMP_SPINCOUNT kept" || fail "GOMP_SPINCOUNT overridden"
env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$LATTE" bench -m "$Q4" -p 0 -n 4 -r 1 -t 2 --no-bandwidth --json 2>/dev/null |
  grep -q "OMP_WAIT_POLICY=passive (latte's default)" && pass "bench reports the default wait policy" \
  || fail "bench does not report the default wait policy"
echo "failures: $failures"
[ $failures -eq 0 ]
