//! observe's per-call rows measured in lockstep with their floors.
//!
//! On this project's 2-core guests one run's medians move by 10–15 % from
//! the next, the floors included, so rows timed minutes apart cannot settle
//! a difference of a few nanoseconds. Here every round times one slice of
//! each row back to back (4 096 calls each, wall clock and thread CPU time,
//! the order rotating from round to round), so a change in the machine's
//! speed falls on every row of the round alike. Each row reports, over all
//! rounds, the median ns per call on both clocks and the median of its
//! per-round difference to the bare function (and, on thread CPU, to the
//! prototype); beside them, labelled, the same over the quiet rounds only
//! (the guest alternates between two speeds over seconds; a round is quiet
//! when the prototype ran within 10 % of its fastest). The headline figures
//! are the all-rounds ones.
//!
//! ```sh
//! cargo run --release -p observe-benches --example paired            # 10 s per configuration
//! cargo run --release -p observe-benches --example paired -- 30       # 30 s per configuration
//! ```
//!
//! Two configurations, each under its own `init`: unsampled (3) beside the
//! per-thread prototype, and sampled with nothing dropped (4b: the export
//! thread is caught up between slices, outside the timing; spans are
//! encoded into OTLP requests that are counted, not sent; the run fails
//! unless every sampled call was exported and none dropped) beside the
//! sampled prototype. Each is followed by (10): the observed function on one
//! worker thread and on two, in alternating rounds, as the median per-round
//! ratio of the two-thread time to the one-thread time. In the sampled
//! configuration those workers run with drops, as a server past the export
//! rate would.

use std::hint::black_box;
use std::time::{Duration, Instant};

use observe_benches::{
    bare, metric_sum, observe_config, observed, BenchError, Clock, EncodedCounter, Workers,
};
use observe_runtime::Sampler;

const SLICE: u64 = 4_096;

struct Row {
    name: &'static str,
    f: fn(u64) -> Result<u64, BenchError>,
    /// Catches the export thread up after the row's slice, outside the timing.
    flush: bool,
    /// Thread CPU time per call, ns, one entry per round.
    per_round: Vec<f64>,
    /// Wall time per call, ns, one entry per round.
    wall_per_round: Vec<f64>,
}

impl Row {
    fn new(name: &'static str, f: fn(u64) -> Result<u64, BenchError>, flush: bool) -> Row {
        Row {
            name,
            f,
            flush,
            per_round: Vec::new(),
            wall_per_round: Vec::new(),
        }
    }
}

/// Spans dropped so far, every reason.
fn dropped() -> f64 {
    metric_sum(
        &observe_runtime::metrics::render(),
        "observe_spans_dropped_total",
        "",
    )
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn quartiles(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 4], values[values.len() * 3 / 4])
}

/// Rounds of one slice per row until `budget` has passed; prints the table.
/// `exported` reads how many spans observe has exported: every call of a
/// `flush` row must be, or the run fails.
fn run(title: &str, rows: &mut [Row], budget: Duration, exported: &dyn Fn() -> u64) {
    let exported_before = exported();
    let dropped_before = dropped();
    let mut flushed_calls = 0;
    let began = Instant::now();
    let mut round = 0;
    let mut n = 0_u64;
    while began.elapsed() < budget || round < 10 {
        for i in 0..rows.len() {
            let row = &mut rows[(i + round) % rows.len()];
            let f = row.f;
            let wall = Clock::Wall.read();
            let cpu = Clock::ThreadCpu.read();
            for _ in 0..SLICE {
                let _ = black_box(f(black_box(n)));
                n += 1;
            }
            let cpu = Clock::ThreadCpu.since(cpu);
            let wall = Clock::Wall.since(wall);
            row.per_round.push(cpu.as_secs_f64() * 1e9 / SLICE as f64);
            row.wall_per_round
                .push(wall.as_secs_f64() * 1e9 / SLICE as f64);
            if row.flush {
                flushed_calls += SLICE;
                assert!(
                    observe_runtime::force_flush(Duration::from_secs(30)),
                    "{title}: the export side did not catch up within 30 s"
                );
            }
        }
        round += 1;
    }
    // "Nothing dropped" is checked, for this run alone.
    assert_eq!(
        exported() - exported_before,
        flushed_calls,
        "{title}: every sampled call exported"
    );
    assert_eq!(dropped() - dropped_before, 0.0, "{title}: spans dropped");
    // Rounds are counted from the same start, so index r of every row is
    // the same round.
    let baseline = |name: &str| {
        rows.iter()
            .find(|row| row.name.starts_with(name))
            .map(|row| row.per_round.clone())
            .expect("a row of each floor")
    };
    let bare_rounds = baseline("bare");
    let prototype_rounds = baseline("prototype");
    // This guest runs in two speeds that alternate over seconds (the core
    // shared on the host or not): a round is quiet when the prototype ran
    // within 10 % of its fastest speed (its 5th percentile).
    let mut sorted = prototype_rounds.clone();
    sorted.sort_by(f64::total_cmp);
    let quiet_limit = sorted[sorted.len() / 20] * 1.1;
    let quiet: Vec<bool> = prototype_rounds.iter().map(|&p| p <= quiet_limit).collect();
    let quiet_rounds = quiet.iter().filter(|&&q| q).count();
    println!(
        "\n{title}: {round} rounds of {SLICE} calls per row, {quiet_rounds} of them quiet; \
         ns per call, medians over all rounds (wall clock and thread CPU time) and, \
         labelled, over the quiet rounds only (thread CPU)"
    );
    if flushed_calls > 0 {
        println!("{title}: {flushed_calls} sampled calls, all exported, none dropped (checked)");
    }
    println!(
        "| row | wall: median | − bare | CPU: median | p25–p75 | − bare | − prototype | quiet rounds, CPU: median | − bare | − prototype |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let bare_wall = rows
        .iter()
        .find(|row| row.name.starts_with("bare"))
        .map(|row| row.wall_per_round.clone())
        .expect("a bare row");
    for row in rows.iter() {
        // The median of `row - to` over the rounds `keep` selects.
        let stat = |to: Option<&[f64]>, keep: &dyn Fn(usize) -> bool| {
            let mut values: Vec<f64> = (0..row.per_round.len())
                .filter(|&r| keep(r))
                .map(|r| row.per_round[r] - to.map_or(0.0, |to| to[r]))
                .collect();
            if values.is_empty() {
                f64::NAN
            } else {
                median(&mut values)
            }
        };
        let all = |_: usize| true;
        let quiet_only = |r: usize| quiet[r];
        let mut values = row.per_round.clone();
        let (p25, p75) = quartiles(&mut values);
        let mut wall_minus_bare: Vec<f64> = (0..row.wall_per_round.len())
            .map(|r| row.wall_per_round[r] - bare_wall[r])
            .collect();
        let mut wall = row.wall_per_round.clone();
        println!(
            "| {} | {:.1} | {:+.1} | {:.1} | {:.1}–{:.1} | {:+.1} | {:+.1} | {:.1} | {:+.1} | {:+.1} |",
            row.name,
            median(&mut wall),
            median(&mut wall_minus_bare),
            stat(None, &all),
            p25,
            p75,
            stat(Some(&bare_rounds), &all),
            stat(Some(&prototype_rounds), &all),
            stat(None, &quiet_only),
            stat(Some(&bare_rounds), &quiet_only),
            stat(Some(&prototype_rounds), &quiet_only),
        );
    }
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let budget = Duration::from_secs(seconds);
    {
        let _guard = observe_runtime::init(observe_config(
            Sampler::AlwaysOff,
            observe_benches::NoopExporter,
        ))
        .expect("observe starts");
        run(
            "unsampled",
            &mut [
                Row::new("bare (1)", bare, false),
                Row::new("prototype", observe_benches::prototype::<false>, false),
                Row::new("observe unsampled (3)", observed, false),
            ],
            budget,
            &|| 0,
        );
        run_threads("unsampled, two threads (10)", observed, budget);
    }
    {
        // The default OTLP path up to the bytes: every span encoded into an
        // `ExportTraceServiceRequest`, counted instead of sent.
        let encoded = EncodedCounter::default();
        let _guard =
            observe_runtime::init(encoded.config(Sampler::AlwaysOn)).expect("observe starts");
        run(
            "sampled, nothing dropped",
            &mut [
                Row::new("bare (1)", bare, false),
                Row::new(
                    "prototype, sampled",
                    observe_benches::prototype::<true>,
                    false,
                ),
                Row::new("observe sampled, nothing dropped (4b)", observed, true),
            ],
            budget,
            &|| encoded.exported(),
        );
        run_threads("sampled, two threads (10)", observed, budget);
    }
}

/// (10): the same function on one worker thread and on two, in lockstep
/// rounds of `THREAD_SLICE` calls per thread. Prints the median per-round
/// ratio of the two-thread time (the slower thread's) to the one-thread
/// time, over all rounds and over the rounds where the one-thread row ran
/// within 10 % of its fastest.
fn run_threads(title: &str, f: fn(u64) -> Result<u64, BenchError>, budget: Duration) {
    const THREAD_SLICE: u64 = 65_536;
    let one = Workers::new(1, Clock::ThreadCpu, f);
    let two = Workers::new(2, Clock::ThreadCpu, f);
    one.run(THREAD_SLICE);
    two.run(THREAD_SLICE);
    let (mut single, mut double) = (Vec::new(), Vec::new());
    let began = Instant::now();
    while began.elapsed() < budget || single.len() < 10 {
        let per_call = |d: Duration| d.as_secs_f64() * 1e9 / THREAD_SLICE as f64;
        if single.len() % 2 == 0 {
            single.push(per_call(one.run(THREAD_SLICE)));
            double.push(per_call(two.run(THREAD_SLICE)));
        } else {
            double.push(per_call(two.run(THREAD_SLICE)));
            single.push(per_call(one.run(THREAD_SLICE)));
        }
    }
    let mut sorted = single.clone();
    sorted.sort_by(f64::total_cmp);
    let quiet_limit = sorted[sorted.len() / 20] * 1.1;
    let ratios = |keep: &dyn Fn(usize) -> bool| {
        let mut r: Vec<f64> = (0..single.len())
            .filter(|&i| keep(i))
            .map(|i| double[i] / single[i])
            .collect();
        median(&mut r)
    };
    let quiet = |i: usize| single[i] <= quiet_limit;
    let quiet_rounds = (0..single.len()).filter(|&i| quiet(i)).count();
    println!(
        "\n{title}: {} rounds of {THREAD_SLICE} calls per thread, {quiet_rounds} of them quiet",
        single.len()
    );
    println!("| row | all: median ns | quiet: median ns |");
    println!("|---|---:|---:|");
    let show = |name: &str, values: &[f64]| {
        let mut all = values.to_vec();
        let mut calm: Vec<f64> = (0..values.len())
            .filter(|&i| quiet(i))
            .map(|i| values[i])
            .collect();
        println!(
            "| {name} | {:.1} | {:.1} |",
            median(&mut all),
            median(&mut calm)
        );
    };
    show("1 thread", &single);
    show("2 threads, slower thread", &double);
    println!(
        "| per-round ratio, 2 threads ÷ 1 | {:.2}x | {:.2}x |",
        ratios(&|_| true),
        ratios(&quiet)
    );
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("the prototype floor reads the TSC: x86_64 only");
}
