#!/bin/bash
# Decode speed of one model under OpenMP wait policies, interleaved rounds (README "Threads and the OpenMP wait
# policy"). Usage: bench/wait_policy.sh [MODEL] [ROUNDS]; LATTE=build/latte, THREADS=2.
M=${1:-models/tiny-dsv3-q4_k_m.gguf}
ROUNDS=${2:-3}
L=${LATTE:-build/latte}
for round in $(seq 1 "$ROUNDS"); do
  # GOMP_SPINCOUNT=300000 is libgomp's own default (without any variable latte itself sets passive)
  for pol in GOMP_SPINCOUNT=300000 OMP_WAIT_POLICY=passive GOMP_SPINCOUNT=1000 GOMP_SPINCOUNT=10000 GOMP_SPINCOUNT=100000 \
             OMP_WAIT_POLICY=active; do
    envs=(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$pol")
    "${envs[@]}" "$L" bench -m "$M" -p 0 -n 128 -r 5 -t "${THREADS:-2}" --no-bandwidth --json 2>/dev/null |
      python3 -c "import json, sys; j = json.load(sys.stdin); print('$round $pol', ' '.join('%s=%.0f' % (t['name'], t['tps_median']) for t in j['tests']), 'load=%.1f' % j['machine']['load_average_1min'])"
  done
done
