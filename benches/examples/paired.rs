//! observe's per-call rows measured in lockstep with their floors.
//!
//! On this project's 2-core guests one run's medians move by 10–15 % from
//! the next, the floors included, so rows timed minutes apart cannot settle
//! a difference of a few nanoseconds. Here every round times one slice of
//! each row back to back (4 096 calls each, thread CPU time, the order
//! rotating from round to round), so a change in the machine's speed falls
//! on every row of the round alike. Each row reports the median ns per call
//! over the rounds and the median of its per-round difference to the bare
//! function and to the prototype: over all rounds, and over the quiet ones
//! (the guest alternates between two speeds over seconds; a round is quiet
//! when the prototype ran within 10 % of its fastest).
//!
//! ```sh
//! cargo run --release -p observe-benches --example paired            # 10 s per configuration
//! cargo run --release -p observe-benches --example paired -- 30       # 30 s per configuration
//! ```
//!
//! Two configurations, each under its own `init`: unsampled (3) beside the
//! per-thread prototype, and sampled with nothing dropped (4b: the export
//! thread is caught up between slices, outside the timing) beside the
//! sampled prototype.

use std::hint::black_box;
use std::time::{Duration, Instant};

use observe_benches::{bare, observe_config, observed, BenchError, Clock, CountingExporter};
use observe_runtime::Sampler;

const SLICE: u64 = 4_096;

struct Row {
    name: &'static str,
    f: fn(u64) -> Result<u64, BenchError>,
    /// Catches the export thread up after the row's slice, outside the timing.
    flush: bool,
    per_round: Vec<f64>,
}

impl Row {
    fn new(name: &'static str, f: fn(u64) -> Result<u64, BenchError>, flush: bool) -> Row {
        Row {
            name,
            f,
            flush,
            per_round: Vec::new(),
        }
    }
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
fn run(title: &str, rows: &mut [Row], budget: Duration) {
    let clock = Clock::ThreadCpu;
    let began = Instant::now();
    let mut round = 0;
    let mut n = 0_u64;
    while began.elapsed() < budget || round < 10 {
        for i in 0..rows.len() {
            let row = &mut rows[(i + round) % rows.len()];
            let f = row.f;
            let start = clock.read();
            for _ in 0..SLICE {
                let _ = black_box(f(black_box(n)));
                n += 1;
            }
            let took = clock.since(start);
            row.per_round.push(took.as_secs_f64() * 1e9 / SLICE as f64);
            if row.flush {
                observe_runtime::force_flush(Duration::from_secs(5));
            }
        }
        round += 1;
    }
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
         thread CPU time, ns per call"
    );
    println!(
        "| row | all: median | p25–p75 | − bare | − prototype | quiet: median | − bare | − prototype |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
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
        println!(
            "| {} | {:.1} | {:.1}–{:.1} | {:+.1} | {:+.1} | {:.1} | {:+.1} | {:+.1} |",
            row.name,
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
        );
    }
    {
        let _guard = observe_runtime::init(observe_config(
            Sampler::AlwaysOn,
            CountingExporter::default(),
        ))
        .expect("observe starts");
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
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("the prototype floor reads the TSC: x86_64 only");
}
