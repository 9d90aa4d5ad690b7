//! How many spans per second observe's background export sustains into an
//! exporter that only counts them, with the background threads confined to
//! one core.
//!
//! observe's threads (the drain thread and the export runtime's worker) are
//! started while the main thread is pinned to CPU 1, so they inherit that
//! affinity; the producer then moves to CPU 0. The producer keeps at most
//! `WINDOW` spans in flight, so no ring or queue overflows and every span is
//! exported: the rate is the export path's, not the drop path's.
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
    CountingExporter,
};
use observe_runtime::Sampler;

/// Ended spans the producer lets wait for export: below the largest ring
/// (16 384) and the queue (32 768), so nothing is dropped.
const WINDOW: u64 = 12_288;

fn main() {
    let spans: u64 = if is_bench_run() { 5_000_000 } else { 20_000 };
    let pinned = pin_current_thread(1);
    let exporter = CountingExporter::default();
    let guard = observe_runtime::init(observe_config(Sampler::AlwaysOn, exporter.clone()))
        .expect("observe starts");
    let pinned = pinned && pin_current_thread(0);

    let run = |count: u64| {
        let base = exporter.exported();
        let target = base + count;
        let mut produced = 0;
        while produced < count {
            let in_flight = produced - (exporter.exported() - base);
            if in_flight >= WINDOW {
                if pinned {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            let _ = black_box(observed(black_box(produced)));
            produced += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while exporter.exported() < target && Instant::now() < deadline {
            // The tail: less than a batch may wait for the schedule delay.
            observe_runtime::force_flush(Duration::from_secs(5));
        }
    };

    run(spans / 10); // warm-up: rings grown, allocator warm
    let cpu_before = threads_cpu_time("observe");
    let exported_before = exporter.exported();
    let start = Instant::now();
    run(spans);
    let wall = start.elapsed();
    let cpu = threads_cpu_time("observe").saturating_sub(cpu_before);
    let exported = exporter.exported() - exported_before;

    let text = observe_runtime::metrics::render();
    let dropped = metric_sum(&text, "observe_spans_dropped_total", "");
    let per_second = exported as f64 / wall.as_secs_f64();
    let per_cpu_second = exported as f64 / cpu.as_secs_f64().max(1e-9);
    println!("export_throughput: threads pinned to one core: {pinned}");
    println!(
        "export_throughput: {exported} spans in {:.3} s wall = {:.2} M spans/s",
        wall.as_secs_f64(),
        per_second / 1e6
    );
    println!(
        "export_throughput: observe threads used {:.3} CPU-s = {:.2} M spans per CPU-second ({:.0} ns of export CPU per span)",
        cpu.as_secs_f64(),
        per_cpu_second / 1e6,
        cpu.as_nanos() as f64 / exported.max(1) as f64,
    );
    println!("export_throughput: dropped {dropped}");
    drop(guard);
}
