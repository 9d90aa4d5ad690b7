//! A small driver for instruction-level profiles of one observe path (the
//! machine has no hardware counters for `perf`, so BENCHMARKS.md uses
//! callgrind):
//!
//! ```sh
//! CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
//!   cargo build --release -p observe-benches --example profile
//! valgrind --tool=callgrind --separate-threads=yes \
//!   --callgrind-out-file=target/callgrind.%p \
//!   target/release/examples/profile unsampled 1000000
//! callgrind_annotate --inclusive=yes target/callgrind.<pid>-01
//! ```
//!
//! Modes: `bare`, `uninit`, `unsampled`, `sampled` (`SpanData` into an
//! exporter that counts), `encoded` (the OTLP encoder up to the request
//! bytes), `async`, and the floor
//! rows `prototype` and `prototype_sampled` (`observe_benches::prototype`).
//! Every mode makes the same number of calls, so instruction counts divide
//! by it.

use std::hint::black_box;
use std::time::Duration;

use observe_benches::{
    bare, observe_config, observed, observed_async, CountingExporter, EncodedCounter, NoopExporter,
};
use observe_runtime::Sampler;

fn calls(n: u64, f: impl Fn(u64)) {
    for i in 0..n {
        f(black_box(i));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "unsampled".into());
    let n: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let sync = |i| {
        let _ = black_box(observed(i));
    };
    match mode.as_str() {
        "bare" => calls(n, |i| {
            let _ = black_box(bare(i));
        }),
        "uninit" => calls(n, sync),
        #[cfg(target_arch = "x86_64")]
        "prototype" => calls(n, |i| {
            let _ = black_box(observe_benches::prototype::<false>(i));
        }),
        #[cfg(target_arch = "x86_64")]
        "prototype_sampled" => calls(n, |i| {
            let _ = black_box(observe_benches::prototype::<true>(i));
        }),
        "unsampled" => {
            let _guard = observe_runtime::init(observe_config(Sampler::AlwaysOff, NoopExporter))
                .expect("observe starts");
            calls(n, sync);
        }
        "sampled" | "async" | "encoded" => {
            // `encoded`: the real OTLP encoder, its requests counted instead
            // of sent; the others: `SpanData` into an exporter that counts.
            let encoded = EncodedCounter::default();
            let config = if mode == "encoded" {
                encoded.config(Sampler::AlwaysOn)
            } else {
                observe_config(Sampler::AlwaysOn, CountingExporter::default())
            };
            let _guard = observe_runtime::init(config).expect("observe starts");
            // Bursts that fit the ring, flushed between them: the path where
            // every span is kept, as in the benchmark 04b.
            let mut done = 0;
            while done < n {
                let burst = (n - done).min(4_096);
                if mode == "async" {
                    calls(burst, |i| {
                        let _ = black_box(futures::executor::block_on(observed_async(i)));
                    });
                } else {
                    calls(burst, sync);
                }
                done += burst;
                observe_runtime::force_flush(Duration::from_secs(60));
            }
            if mode == "encoded" {
                assert_eq!(encoded.exported(), n, "every span encoded");
            }
        }
        other => {
            eprintln!(
                "unknown mode `{other}`, expected one of bare, uninit, unsampled, sampled, encoded, async, \
                 prototype, prototype_sampled"
            );
            std::process::exit(2);
        }
    }
}
