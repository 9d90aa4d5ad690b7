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
//! Modes: `bare`, `uninit`, `unsampled`, `sampled`, `async`, and the floor
//! rows `prototype` and `prototype_sampled` (`observe_benches::prototype`).
//! Every mode makes the same number of calls, so instruction counts divide
//! by it.
//!
//! With `OBSERVE_BENCH_DEBUG_PAGES=1` (`observe_config`) the debug pages
//! are on and `sampled` ends by checking that every span reached the trace
//! store.

use std::hint::black_box;
use std::time::Duration;

use observe_benches::{
    bare, observe_config, observed, observed_async, CountingExporter, NoopExporter,
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
        "sampled" | "async" => {
            let exporter = CountingExporter::default();
            let guard = observe_runtime::init(observe_config(Sampler::AlwaysOn, exporter))
                .expect("observe starts");
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
            if let Some(addr) = guard.debug_pages_addr() {
                assert_stored(
                    addr,
                    if mode == "async" {
                        "Bench.CallAsync"
                    } else {
                        "Bench.Call"
                    },
                    n,
                );
            }
        }
        other => {
            eprintln!(
                "unknown mode `{other}`, expected one of bare, uninit, unsampled, sampled, async, \
                 prototype, prototype_sampled"
            );
            std::process::exit(2);
        }
    }
}

/// With the pages on, every span reached the trace store: `name`'s counts
/// on `/debug/traces.json` add up to `n`.
fn assert_stored(addr: std::net::SocketAddr, name: &str, n: u64) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("the pages are served");
    write!(
        stream,
        "GET /debug/traces.json HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("a request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let summary: serde_json::Value = serde_json::from_str(body).expect("JSON");
    let entry = summary["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == name))
        .expect("the span name is in the store");
    let latency: u64 = entry["latency"]
        .as_array()
        .map_or(0, |counts| counts.iter().filter_map(|c| c.as_u64()).sum());
    let stored = latency + entry["errors"].as_u64().unwrap_or(0);
    assert_eq!(stored, n, "every span reached the trace store");
}
