//! How many spans per second observe's background export sustains, with its
//! threads confined to one core, and whether a thread calling a sampled
//! function as fast as it can loses any span.
//!
//! observe's threads (the drain thread and the export runtime's worker) are
//! started while the main thread is pinned to CPU 1, so they inherit that
//! affinity; the producer then moves to CPU 0. Three runs, each under its
//! own `init`:
//!
//! - `encoded`: the default OTLP path up to the bytes: every span encoded
//!   into an `ExportTraceServiceRequest`, the request counted instead of
//!   sent. The producer keeps at most `WINDOW` spans in flight, so no ring
//!   or queue overflows: the rate is the export path's.
//! - `spandata`: the same into a `SpanExporter` that counts (`SpanData` is
//!   built for each span), for comparison.
//! - `steady`: the producer calls as fast as it can, with no window, the
//!   default queue and the OTLP encoder.
//!
//! Each run fails unless exported == calls and no span was dropped in it
//! (before that, unless exported + dropped == calls: every loss counted).
//!
//! ```sh
//! cargo bench -p observe-benches --bench export_throughput
//! ```
//!
//! Prints the wall-clock rate and the rate per CPU-second of observe's
//! threads (the second is independent of the other core's load).

use std::hint::black_box;
use std::time::{Duration, Instant};

use observe_benches::{
    is_bench_run, metric_sum, observe_config, observed, pin_current_thread, threads_cpu_time,
    CountingExporter, EncodedCounter,
};
use observe_runtime::{Config, Sampler};

/// Ended spans the producer lets wait for export: below the largest ring
/// (16 384), so the rate is the export path's, not the buffers'.
const WINDOW: u64 = 12_288;

fn dropped() -> f64 {
    metric_sum(
        &observe_runtime::metrics::render(),
        "observe_spans_dropped_total",
        "",
    )
}

/// Runs `spans` calls (after a tenth as warm-up) under `config`, observe's
/// threads on CPU 1 and the producer on CPU 0; `window` bounds the spans in
/// flight, or `None` for as fast as the producer can.
fn measure(
    name: &str,
    config: Config,
    exported: &dyn Fn() -> u64,
    spans: u64,
    window: Option<u64>,
) {
    let pinned = pin_current_thread(1);
    let guard = observe_runtime::init(config).expect("observe starts");
    let pinned = pinned && pin_current_thread(0);

    let run = |count: u64| {
        let base_exported = exported();
        let target = base_exported as f64 + dropped() + count as f64;
        let mut produced = 0;
        while produced < count {
            if let Some(window) = window {
                // Windowed runs drop nothing: what left is exported.
                let in_flight = produced - (exported() - base_exported);
                if in_flight >= window {
                    if pinned {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                    continue;
                }
            }
            let _ = black_box(observed(black_box(produced)));
            produced += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while (exported() as f64 + dropped()) < target && Instant::now() < deadline {
            // The tail: less than a batch may wait for the schedule delay.
            observe_runtime::force_flush(Duration::from_secs(5));
        }
    };

    run(spans / 10); // warm-up: rings grown, allocator warm
    let cpu_before = threads_cpu_time("observe");
    let exported_before = exported();
    let dropped_before = dropped();
    let start = Instant::now();
    run(spans);
    let wall = start.elapsed();
    let cpu = threads_cpu_time("observe").saturating_sub(cpu_before);
    let exported_now = exported() - exported_before;
    let dropped_now = dropped() - dropped_before;

    let per_second = exported_now as f64 / wall.as_secs_f64();
    let per_cpu_second = exported_now as f64 / cpu.as_secs_f64().max(1e-9);
    println!("export_throughput {name}: threads pinned to one core: {pinned}");
    println!(
        "export_throughput {name}: {exported_now} spans in {:.3} s wall = {:.2} M spans/s",
        wall.as_secs_f64(),
        per_second / 1e6
    );
    println!(
        "export_throughput {name}: observe threads used {:.3} CPU-s = {:.2} M spans per CPU-second ({:.0} ns of export CPU per span)",
        cpu.as_secs_f64(),
        per_cpu_second / 1e6,
        cpu.as_nanos() as f64 / exported_now.max(1) as f64,
    );
    println!(
        "export_throughput {name}: dropped in this run {dropped_now} ({:.1} %)",
        100.0 * dropped_now / spans as f64
    );
    assert_eq!(
        exported_now as f64 + dropped_now,
        spans as f64,
        "{name}: every call's span exported or dropped and counted"
    );
    assert_eq!(exported_now, spans, "{name}: every call's span exported");
    assert_eq!(dropped_now, 0.0, "{name}: nothing dropped");
    drop(guard);
}

fn main() {
    let spans: u64 = if is_bench_run() { 5_000_000 } else { 20_000 };

    let encoded = EncodedCounter::default();
    measure(
        "encoded",
        encoded.config(Sampler::AlwaysOn),
        &|| encoded.exported(),
        spans,
        Some(WINDOW),
    );

    let counting = CountingExporter::default();
    measure(
        "spandata",
        observe_config(Sampler::AlwaysOn, counting.clone()),
        &|| counting.exported(),
        spans,
        Some(WINDOW),
    );

    let steady = EncodedCounter::default();
    measure(
        "steady",
        steady.config(Sampler::AlwaysOn),
        &|| steady.exported(),
        spans,
        None,
    );
}
