#!/usr/bin/env bash
# Instructions per call, counted by callgrind on the calling thread and on
# all threads (drain thread and export task included), for each mode of
# benches/examples/profile.rs. Each mode runs twice, with N and 2N calls, and
# the difference is divided by N, so start-up, init and shutdown cancel.
# The first two columns include the driver's loop and, for `sampled`, the
# force_flush waits between bursts, whose polling depends on scheduling: they
# move by a few percent between runs. The third counts only inside the
# function each call enters (callgrind's --toggle-collect), which is stable
# to the instruction.
#
# Modes `sampled` and `encoded` run observe with every span sampled, in
# bursts of 4 096 flushed between them; `sampled` hands `SpanData` to an
# exporter that counts, `encoded` encodes OTLP requests and counts their
# bytes. `fastrace`, `otel_sdk` and `tracing_otel` are the peers, every span
# delivered to a counting reporter or exporter (the driver asserts it).
#
#   bash benches/callgrind.sh                 # N=100000, modes below
#   N=100000 MODES="unsampled sampled encoded" bash benches/callgrind.sh
#   MODES="encoded fastrace otel_sdk tracing_otel" bash benches/callgrind.sh
#   MODES="log_quiet log_suppressed log_nothing_layer" bash benches/callgrind.sh  # issue 22
#
# PROFILE_BIN names a prebuilt driver (to compare two commits' binaries);
# otherwise the driver is built here.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-100000}
MODES=${MODES:-"bare uninit unsampled sampled encoded prototype prototype_sampled fastrace otel_sdk tracing_otel"}
command -v valgrind >/dev/null 2>&1 || { echo "callgrind.sh needs valgrind (apt-get install valgrind)" >&2; exit 1; }
if [ -z "${PROFILE_BIN:-}" ]; then
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo build --release -q -p observe-benches --example profile
  PROFILE_BIN=target/release/examples/profile
fi
# Two start-up steps spin for a stretch of wall time, so their instruction
# counts vary from run to run (by up to 7 M) and do not cancel between the
# N and 2N runs: fastant (fastrace's clock) calibrating the TSC in a
# constructor before main, and quanta calibrating at observe's `init`.
# Toggling collection on their entry and exit leaves them out
# (`--collect-atstart=yes` after `--toggle-collect`, which would otherwise
# turn it off); the remaining runs repeat to within a few hundred
# instructions.
SKIP=(--toggle-collect='fastant::tsc_now::___init___ctor*'
  --toggle-collect='quanta::Calibration::calibrate*' --collect-atstart=yes)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

count() { # mode calls -> "calling_thread all_threads"
  local prefix="$out/$1.$2"
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$prefix.%p" \
    "${SKIP[@]}" "$PROFILE_BIN" "$1" "$2" >/dev/null 2>&1
  # Files are <prefix>.<pid>-<thread>; thread 01 is main, which makes the calls.
  local main all
  main=$(grep -hE '^(summary|totals):' "$prefix".*-01 | head -1 | awk '{print $2}')
  all=$(cat "$prefix".*-* | grep -E '^summary:' | awk '{s += $2} END {print s}')
  echo "$main $all"
}

# The function a call of each mode enters.
entered() {
  case "$1" in
    bare) echo 'observe_benches::bare*' ;;
    prototype*) echo 'observe_benches::prototype*' ;;
    async) echo 'observe_benches::observed_async*' ;;
    fastrace) echo 'profile::fastraced*' ;;
    tracing_otel) echo 'profile::traced*' ;;
    otel_sdk) echo '*in_span*' ;;
    log_quiet) echo 'profile::without_event*' ;;
    log_*) echo 'profile::with_event*' ;;
    *) echo 'observe_benches::observed*' ;;
  esac
}

inside() { # mode calls -> instructions inside the entered function, main thread
  local prefix="$out/$1.$2.inside"
  valgrind --tool=callgrind --separate-threads=yes --toggle-collect="$(entered "$1")" \
    --callgrind-out-file="$prefix.%p" "$PROFILE_BIN" "$1" "$2" >/dev/null 2>&1
  grep -hE '^(summary|totals):' "$prefix".*-01 | head -1 | awk '{print $2}'
}

printf '%-18s %16s %16s %16s\n' mode "calling thread" "all threads" "in the function"
for mode in $MODES; do
  read -r m1 a1 < <(count "$mode" "$N")
  read -r m2 a2 < <(count "$mode" $((2 * N)))
  i1=$(inside "$mode" "$N")
  awk -v m="$mode" -v n="$N" -v m1="$m1" -v m2="$m2" -v a1="$a1" -v a2="$a2" -v i1="$i1" \
    'BEGIN { printf "%-18s %16.1f %16.1f %16.1f\n", m, (m2 - m1) / n, (a2 - a1) / n, i1 / n }'
done
