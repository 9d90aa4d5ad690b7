#!/usr/bin/env bash
# Repeats of the per_call rows, to read through this 2-core guest's run-to-run
# noise (one run's medians move by up to ±15 % from the next). Runs the
# per_call bench binary RUNS times with thread CPU time and prints, per row,
# the median of the runs' medians with the lowest and highest run. With two
# or more binaries (BINS="a b"), the runs alternate between them, so a
# before/after pair sees the same machine.
#
#   bash benches/repeat.sh                                  # RUNS=5, observe's rows and the floors
#   RUNS=3 FILTER='^per_call_cpu/(01_bare|03_)' bash benches/repeat.sh
#   BINS="/tmp/per_call_before /tmp/per_call_after" bash benches/repeat.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-5}"
filter="${FILTER:-^per_call_cpu/(0[0-5]|10)}"
if [ -z "${BINS:-}" ]; then
  cargo bench -p observe-benches --bench per_call --no-run -q 2>/dev/null
  BINS=$(cargo bench -p observe-benches --bench per_call --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "per_call" and m.get("executable"):
        print(m["executable"])')
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
results=$(mktemp)
for ((run = 1; run <= runs; run++)); do
  for bin in $BINS; do
    OBSERVE_BENCH_CLOCK=cpu "$bin" --bench "$filter" --warm-up-time 1 --measurement-time 3 --noplot 2>&1 |
      awk -v bin="$bin" '/^per_call/ { name = $1 }
        /time:/ { for (i = 1; i <= NF; i++) if ($i == "time:") { v = $(i + 3); u = $(i + 4)
          if (u == "ps") v /= 1000; if (u == "µs" || u == "us") v *= 1000; print bin, name, v; break } }' >>"$results"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$results" "$runs" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    binary, name, value = line.split()
    rows.setdefault((name, binary), []).append(float(value))
print(f"| benchmark | binary | median of {sys.argv[2]} runs, ns | lowest–highest run |")
print("|---|---|---:|---:|")
for (name, binary), values in sorted(rows.items()):
    print(f"| {name.split('/', 1)[1]} | {binary.rsplit('/', 1)[-1]} | {statistics.median(values):.1f} | {min(values):.1f}–{max(values):.1f} |")
PY
rm -f "$results"
