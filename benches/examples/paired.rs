//! observe's per-call rows measured in lockstep with their floors.
//!
//! On this project's 2-core guests one run's medians move by 10–15 % from
//! the next, the floors included, so rows timed minutes apart cannot settle
//! a difference of a few nanoseconds. Here every round times one slice of
//! each row back to back (4 096 calls each, thread CPU time, the order
//! rotating from round to round), so a change in the machine's speed falls
//! on every row of the round alike. Each row reports the median ns per call
//! over the rounds and the median of its per-round difference to the bare
//! function and to the prototype.
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
    };
    let bare_rounds = baseline("bare").expect("a bare row");
    let prototype_rounds = baseline("prototype").expect("a prototype row");
    println!("\n{title}: {round} rounds of {SLICE} calls per row, thread CPU time, ns per call");
    println!("| row | median | p25–p75 | median of (row − bare) | median of (row − prototype) |");
    println!("|---|---:|---:|---:|---:|");
    for row in rows.iter() {
        let differences = |to: &[f64]| {
            let mut d: Vec<f64> = row.per_round.iter().zip(to).map(|(r, b)| r - b).collect();
            median(&mut d)
        };
        let over_bare = differences(&bare_rounds);
        let over_prototype = differences(&prototype_rounds);
        let mut values = row.per_round.clone();
        let (p25, p75) = quartiles(&mut values);
        println!(
            "| {} | {:.1} | {:.1}–{:.1} | {:+.1} | {:+.1} |",
            row.name,
            median(&mut values),
            p25,
            p75,
            over_bare,
            over_prototype
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
