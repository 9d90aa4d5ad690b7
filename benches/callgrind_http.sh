#!/usr/bin/env bash
# Instructions per request through the in-process axum router, counted by
# callgrind on the calling thread and on all threads (drain thread and export
# task included), for each mode of benches/examples/profile_http.rs. Each mode
# runs with N and 2N requests and the difference is divided by N, so
# start-up, init and shutdown cancel.
#
#   bash benches/callgrind_http.sh                       # N=20000, every mode
#   N=10000 MODES="bare unsampled" bash benches/callgrind_http.sh
#
# PROFILE_BIN names a prebuilt driver (to compare two commits' binaries);
# otherwise the driver is built here.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20000}
MODES=${MODES:-"bare noop_layer unsampled sampled"}
command -v valgrind >/dev/null 2>&1 || { echo "callgrind_http.sh needs valgrind (apt-get install valgrind)" >&2; exit 1; }
if [ -z "${PROFILE_BIN:-}" ]; then
  cargo build --release -q -p observe-benches --example profile_http
  PROFILE_BIN=${CARGO_TARGET_DIR:-target}/release/examples/profile_http
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

count() { # mode requests -> "calling_thread all_threads"
  local prefix="$out/$1.$2"
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$prefix.%p" \
    "$PROFILE_BIN" "$1" "$2" >/dev/null 2>&1
  # Files are <prefix>.<pid>-<thread>; thread 01 is main, which sends.
  local main all
  main=$(grep -hE '^(summary|totals):' "$prefix".*-01 | head -1 | awk '{print $2}')
  all=$(cat "$prefix".*-* | grep -E '^summary:' | awk '{s += $2} END {print s}')
  echo "$main $all"
}

printf '%-12s %16s %16s\n' mode "calling thread" "all threads"
for mode in $MODES; do
  read -r m1 a1 < <(count "$mode" "$N")
  read -r m2 a2 < <(count "$mode" $((2 * N)))
  awk -v m="$mode" -v n="$N" -v m1="$m1" -v m2="$m2" -v a1="$a1" -v a2="$a2" \
    'BEGIN { printf "%-12s %16.1f %16.1f\n", m, (m2 - m1) / n, (a2 - a1) / n }'
done
