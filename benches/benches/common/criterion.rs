//! The criterion settings the benches share: 1 s of warm-up and 3 s of
//! measurement per row under `cargo bench`, a few iterations as a smoke test
//! under `cargo test --all-targets`; command-line arguments (a filter, other
//! times) win.

use std::time::Duration;

use criterion::Criterion;
use observe_benches::is_bench_run;

pub fn criterion() -> Criterion {
    let criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    if is_bench_run() {
        criterion
    } else {
        criterion
            .warm_up_time(Duration::from_millis(10))
            .measurement_time(Duration::from_millis(50))
    }
}
