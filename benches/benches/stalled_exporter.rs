//! Memory and drop accounting with an exporter that never returns: 10 M
//! sampled calls must leave RSS bounded by the ring and queue caps, and every
//! span that was not kept must be counted in `observe_spans_dropped_total`.
//!
//! ```sh
//! cargo bench -p observe-benches --bench stalled_exporter
//! ATTR_BYTES=8192 cargo bench -p observe-benches --bench stalled_exporter
//! ```
//!
//! With `ATTR_BYTES`, every span carries a string attribute of that many
//! bytes (and the value length limit is raised to hold it), over 1 M calls.
//! Everything waiting for export (rings, queue, the stalled batch) stays
//! within the byte cap (`OBSERVE_MAX_QUEUE_BYTES`, 64 MiB by default), so
//! the bench fails if peak RSS goes past the cap plus [`RSS_HEADROOM_KIB`].

use std::hint::black_box;
use std::time::{Duration, Instant};

use observe_benches::{
    is_bench_run, metric_sum, observe_config, observed, proc_status_kib, StalledExporter,
};
use observe_runtime::{observe, Sampler, SpanLimits};

#[observe(span = "Bench.Large", fields(order.note = note))]
#[inline(never)]
fn observed_large(note: &str) -> usize {
    note.len()
}

/// What the process holds besides the spans waiting for export: its code,
/// the runtime's threads and the allocator's slack. The documented bound is
/// `max_queue_bytes` + this (BENCHMARKS.md).
const RSS_HEADROOM_KIB: u64 = 16 * 1024;

/// The queue depth and drop counters as `/metrics` shows them.
struct Counters {
    dropped_queue_full: f64,
    dropped_export_failed: f64,
    exported: f64,
    queue_depth: f64,
}

fn counters() -> Counters {
    // The drain thread folds the rings' drop counts into the counter when it
    // collects, at most 100 ms apart when idle.
    std::thread::sleep(Duration::from_millis(300));
    let text = observe_runtime::metrics::render();
    Counters {
        dropped_queue_full: metric_sum(&text, "observe_spans_dropped_total", "queue_full"),
        dropped_export_failed: metric_sum(&text, "observe_spans_dropped_total", "export_failed"),
        exported: metric_sum(&text, "observe_spans_exported_total", ""),
        queue_depth: metric_sum(&text, "observe_span_queue_depth", ""),
    }
}

fn main() {
    let attr_bytes: usize = std::env::var("ATTR_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let note = "x".repeat(attr_bytes);
    let total: u64 = match (is_bench_run(), attr_bytes) {
        (true, 0) => 10_000_000,
        (true, _) => 1_000_000,
        (false, _) => 100_000,
    };
    let checkpoints = [total / 100, total / 10, total / 4, total / 2, total];
    let rss_start = proc_status_kib("VmRSS");
    let guard = observe_runtime::init(
        observe_config(Sampler::AlwaysOn, StalledExporter)
            .span_limits(SpanLimits {
                attribute_value_length: attr_bytes.max(4096),
                ..SpanLimits::default()
            })
            .shutdown_timeout(Duration::from_millis(500)),
    )
    .expect("observe starts");
    let rss_init = proc_status_kib("VmRSS");
    println!(
        "stalled_exporter: {attr_bytes}-byte attribute per span; RSS before init {rss_start} KiB, after init {rss_init} KiB"
    );
    println!(
        "stalled_exporter: {:>10} {:>10} {:>10} {:>12} {:>14} {:>9} {:>8} {:>11}",
        "calls",
        "RSS KiB",
        "HWM KiB",
        "queue_full",
        "export_failed",
        "exported",
        "depth",
        "unaccounted"
    );
    let start = Instant::now();
    let mut timed = Duration::ZERO;
    let mut done = 0;
    for checkpoint in checkpoints {
        let lap = Instant::now();
        for n in done..checkpoint {
            if attr_bytes == 0 {
                let _ = black_box(observed(black_box(n)));
            } else {
                black_box(observed_large(black_box(&note)));
            }
        }
        timed += lap.elapsed();
        done = checkpoint;
        let c = counters();
        // Spans neither dropped, nor exported, nor waiting: the batch the
        // stalled export call holds.
        let unaccounted = done as f64
            - c.dropped_queue_full
            - c.dropped_export_failed
            - c.exported
            - c.queue_depth;
        println!(
            "stalled_exporter: {done:>10} {:>10} {:>10} {:>12} {:>14} {:>9} {:>8} {:>11}",
            proc_status_kib("VmRSS"),
            proc_status_kib("VmHWM"),
            c.dropped_queue_full,
            c.dropped_export_failed,
            c.exported,
            c.queue_depth,
            unaccounted
        );
    }
    println!(
        "stalled_exporter: {total} calls in {:.2} s ({:.0} ns per call while the exporter is stalled)",
        start.elapsed().as_secs_f64(),
        timed.as_nanos() as f64 / total as f64
    );
    let c = counters();
    let unaccounted =
        total as f64 - c.dropped_queue_full - c.dropped_export_failed - c.exported - c.queue_depth;
    assert!(
        (0.0..=512.0).contains(&unaccounted),
        "{unaccounted} spans are neither dropped, exported, queued nor in the one stalled batch"
    );
    if attr_bytes > 0 {
        let cap_kib = (64 << 20) / 1024 + RSS_HEADROOM_KIB;
        let peak = proc_status_kib("VmHWM");
        println!(
            "stalled_exporter: peak RSS {peak} KiB, bound {cap_kib} KiB (64 MiB cap + headroom)"
        );
        assert!(
            peak <= cap_kib,
            "peak RSS {peak} KiB is past the documented bound of {cap_kib} KiB"
        );
    }
    drop(guard);
}
