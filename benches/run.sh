#!/usr/bin/env bash
# Every benchmark of issue 5 in one go, on a release build, and the per-call
# table (criterion's medians) for BENCHMARKS.md.
#
#   bash benches/run.sh                           # everything, ~15 minutes on 2 cores
#   SKIP_COMPILE_TIME=1 bash benches/run.sh
#   PAIRED_SECONDS=30 bash benches/run.sh         # longer lockstep runs
#   bash benches/run.sh -- --measurement-time 3   # extra criterion arguments
#
# per_call runs twice: timed by wall clock, then by the calling thread's CPU
# time (OBSERVE_BENCH_CLOCK=cpu), which a shared, loaded machine disturbs
# much less.
set -euo pipefail
cd "$(dirname "$0")/.."
criterion_args=()
if [ "${1:-}" = "--" ]; then
  shift
  criterion_args=("$@")
fi

echo "== machine"
echo "nproc: $(nproc)"
lscpu | grep -m1 'Model name' || true
rustc --version
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- observe-runtime observe-macros benches || echo ' (with uncommitted changes)')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

cargo bench -p observe-benches --no-run -q 2>/dev/null
for clock in wall cpu; do
  echo "== per_call, clock: $clock"
  OBSERVE_BENCH_CLOCK=$clock cargo bench -p observe-benches --bench per_call -- \
    "${criterion_args[@]}" 2>&1 | grep -E '^(per_call|after )|time:' || true
  echo "load after per_call ($clock): $(cut -d' ' -f1-3 /proc/loadavg)"
done

echo "== per_call medians, ns per call (criterion's 95% interval of the median)"
python3 - "${CARGO_TARGET_DIR:-target}/criterion" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
def medians(group):
    rows = {}
    for estimates in sorted((root / group).glob("*/new/estimates.json")):
        e = json.loads(estimates.read_text())["median"]
        ci = e["confidence_interval"]
        rows[estimates.parent.parent.name] = (
            f"{e['point_estimate']:.1f} ({ci['lower_bound']:.1f}-{ci['upper_bound']:.1f})"
        )
    return rows
wall, cpu = medians("per_call"), medians("per_call_cpu")
print("| benchmark | thread CPU time | wall time |")
print("|---|---:|---:|")
for name in sorted(set(wall) | set(cpu)):
    print(f"| {name} | {cpu.get(name, '-')} | {wall.get(name, '-')} |")
PY

echo "== paired: (3), (4b) and (10) in lockstep with their floors"
cargo run --release -q -p observe-benches --example paired -- "${PAIRED_SECONDS:-10}"

echo "== export_throughput"
cargo bench -p observe-benches --bench export_throughput 2>&1 | grep '^export_throughput:'
echo "== stalled_exporter"
cargo bench -p observe-benches --bench stalled_exporter 2>&1 | grep '^stalled_exporter:'
if [ -z "${SKIP_COMPILE_TIME:-}" ]; then
  echo "== compile_time"
  bash benches/compile_time.sh
fi
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
