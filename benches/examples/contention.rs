//! Is the two-thread slowdown of an observed call shared state, or the
//! machine? Thread A calls `observed` and is timed by its CPU clock, while
//! thread B does nothing, spins on the bare function, calls the same observed
//! function, or calls another observed function (another callsite).
//!
//! ```sh
//! cargo run --release -p observe-benches --example contention
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use observe_benches::{
    bare, observe_config, observed, observed_other, BenchError, Clock, NoopExporter,
};
use observe_runtime::Sampler;

/// A function under test.
type Subject = fn(u64) -> Result<u64, BenchError>;

const CALLS: u64 = 5_000_000;
const ROUNDS: usize = 7;

/// Median ns per call of `observed` on a thread of its own, with `other`
/// running on another thread meanwhile (when given).
fn measure(other: Background) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let background = other.map(|f| {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let _ = black_box(f(black_box(n)));
                n += 1;
            }
        })
    });
    let mut rounds: Vec<f64> = std::thread::spawn(|| {
        let _ = observed(0);
        (0..ROUNDS)
            .map(|_| {
                let start = Clock::ThreadCpu.read();
                for n in 0..CALLS {
                    let _ = black_box(observed(black_box(n)));
                }
                Clock::ThreadCpu.since(start).as_nanos() as f64 / CALLS as f64
            })
            .collect()
    })
    .join()
    .expect("measuring thread");
    stop.store(true, Ordering::Relaxed);
    if let Some(background) = background {
        background.join().expect("background thread");
    }
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

/// What the other thread runs meanwhile, if anything.
type Background = Option<Subject>;

fn main() {
    let _guard = observe_runtime::init(observe_config(Sampler::AlwaysOff, NoopExporter))
        .expect("observe starts");
    let cases: [(&str, Background); 4] = [
        ("alone", None),
        ("other thread: bare function", Some(bare)),
        ("other thread: same observed function", Some(observed)),
        (
            "other thread: another observed function",
            Some(observed_other),
        ),
    ];
    for (name, other) in cases {
        println!(
            "contention: unsampled, {name:<42} {:6.1} ns per call (thread CPU)",
            measure(other)
        );
    }
}
