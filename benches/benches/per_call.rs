//! ns per call of the same trivial function under observe and under its
//! peers, in one run (issue 5, benchmarks 1-10).
//!
//! One process, in a fixed order, because observe's `init` is process-wide:
//! the uninitialised case runs first, then each observe configuration under
//! its own `Guard`, then the peers (each `tracing` subscriber is scoped with
//! `set_default`, so none of them sees another's calls).
//!
//! ```sh
//! cargo bench -p observe-benches --bench per_call
//! ```

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion};
use observe_benches::{
    bare, bare_async, body, metric_sum, observe_config, observed, observed_async, BenchError,
    CountingExporter, NoopExporter, Workers,
};
use observe_runtime::Sampler;
use opentelemetry::trace::{Status, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use prometheus::{HistogramOpts, HistogramVec, Registry};
use tracing_subscriber::layer::SubscriberExt as _;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The histogram a user of the peers observes by hand: the same labels as
/// observe's (`operation`, `outcome`), its own registry.
static HISTOGRAM: LazyLock<HistogramVec> = LazyLock::new(|| {
    let histogram = HistogramVec::new(
        HistogramOpts::new(
            "operation_duration_seconds",
            "Duration of operations, in seconds.",
        ),
        &["operation", "outcome"],
    )
    .expect("valid histogram");
    Registry::new()
        .register(Box::new(histogram.clone()))
        .expect("registers once");
    histogram
});

#[inline(always)]
fn observe_by_hand(start: Instant, result: &Result<u64, BenchError>) {
    let outcome = if result.is_ok() { "ok" } else { "error" };
    HISTOGRAM
        .with_label_values(&["Bench.Call", outcome])
        .observe(start.elapsed().as_secs_f64());
}

/// (6) the usual way: `#[tracing::instrument]` into tracing-opentelemetry,
/// plus a histogram by hand. `skip_all` and `err` give the same signal as
/// `#[observe]` (nothing from the arguments; the error on `Err`).
#[tracing::instrument(name = "Bench.Call", skip_all, err)]
#[inline(never)]
fn traced(x: u64) -> Result<u64, BenchError> {
    body(x)
}

fn traced_with_histogram(x: u64) -> Result<u64, BenchError> {
    let start = Instant::now();
    let result = traced(x);
    observe_by_hand(start, &result);
    result
}

/// (7) an OpenTelemetry SDK span by hand, plus a histogram by hand.
fn otel_by_hand(tracer: &SdkTracer, x: u64) -> Result<u64, BenchError> {
    let start = Instant::now();
    let result = tracer.in_span("Bench.Call", |cx| {
        let result = bare(x);
        if let Err(e) = &result {
            cx.span().set_status(Status::error(e.to_string()));
        }
        result
    });
    observe_by_hand(start, &result);
    result
}

/// (8) fastrace.
#[fastrace::trace(name = "Bench.Call")]
#[inline(never)]
fn fastraced(x: u64) -> Result<u64, BenchError> {
    body(x)
}

/// (9) autometrics, prometheus backend.
#[autometrics::autometrics]
#[inline(never)]
fn autometricsed(x: u64) -> Result<u64, BenchError> {
    body(x)
}

struct NoopReporter;

impl fastrace::collector::Reporter for NoopReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        drop(black_box(spans));
    }
}

fn sdk_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .with_batch_exporter(NoopExporter)
        .build()
}

fn span_counts(exporter: &CountingExporter) -> String {
    let text = observe_runtime::metrics::render();
    format!(
        "exported {}, dropped queue_full {}, dropped export_failed {}",
        exporter.exported(),
        metric_sum(&text, "observe_spans_dropped_total", "queue_full"),
        metric_sum(&text, "observe_spans_dropped_total", "export_failed"),
    )
}

fn sync_bench(group: &mut Group<'_>, id: &str, f: impl Fn(u64) -> Result<u64, BenchError>) {
    group.bench_function(id, |b| {
        let mut n = 0_u64;
        b.iter(|| {
            n = n.wrapping_add(1);
            f(black_box(n))
        })
    });
}

fn threads_bench(
    group: &mut Group<'_>,
    id: &str,
    threads: usize,
    f: fn(u64) -> Result<u64, BenchError>,
) {
    let workers = Workers::new(threads, f);
    workers.run(10_000);
    group.bench_function(id, |b| b.iter_custom(|iters| workers.run(iters)));
}

fn observe_benches(group: &mut Group<'_>) {
    // (2) before any `init`.
    assert!(!observe_runtime::is_initialized());
    sync_bench(group, "02_observe_not_initialised", observed);

    // (3) initialised, no trace sampled: ids, clock, current span, histogram.
    {
        let _guard = observe_runtime::init(observe_config(Sampler::AlwaysOff, NoopExporter))
            .expect("observe starts");
        sync_bench(group, "03_observe_unsampled", observed);
        threads_bench(group, "03t_observe_unsampled_2_threads", 2, observed);
        threads_bench(group, "03t_observe_unsampled_1_thread_harness", 1, observed);
    }

    // (4), (5), (10): every span sampled and handed to an exporter that
    // counts it and does nothing else.
    {
        let exporter = CountingExporter::default();
        let _guard = observe_runtime::init(observe_config(Sampler::AlwaysOn, exporter.clone()))
            .expect("observe starts");
        sync_bench(group, "04_observe_sampled", observed);
        eprintln!("after 04: {}", span_counts(&exporter));
        // The same, in bursts that fit the per-thread ring, with the exporter
        // caught up between bursts (outside the timing): no span is dropped,
        // so every call pays for the ring write.
        group.bench_function("04b_observe_sampled_no_drops", |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let burst = (iters - done).min(4_096);
                    let start = Instant::now();
                    for n in done..done + burst {
                        let _ = black_box(observed(black_box(n)));
                    }
                    timed += start.elapsed();
                    done += burst;
                    observe_runtime::force_flush(Duration::from_secs(5));
                }
                timed
            })
        });
        eprintln!("after 04b: {}", span_counts(&exporter));
        group.bench_function("05_observe_sampled_async_block_on", |b| {
            let mut n = 0_u64;
            b.iter(|| {
                n = n.wrapping_add(1);
                futures::executor::block_on(observed_async(black_box(n)))
            })
        });
        threads_bench(group, "10_observe_sampled_2_threads", 2, observed);
        threads_bench(group, "10_observe_sampled_1_thread_harness", 1, observed);
        eprintln!("after 10: {}", span_counts(&exporter));
    }
}

fn peer_benches(group: &mut Group<'_>) {
    // (6) `#[tracing::instrument]` + tracing-opentelemetry + prometheus.
    {
        let provider = sdk_provider();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let subscriber = tracing_subscriber::registry().with(layer);
        let _default = tracing::subscriber::set_default(subscriber);
        sync_bench(
            group,
            "06_tracing_otel_layer_prometheus",
            traced_with_histogram,
        );
        drop(_default);
        let _ = provider.shutdown();
    }

    // (7) an SDK span by hand + prometheus.
    {
        let provider = sdk_provider();
        let tracer = provider.tracer("bench");
        sync_bench(group, "07_otel_sdk_in_span_prometheus", |x| {
            otel_by_hand(&tracer, x)
        });
        let _ = provider.shutdown();
    }

    // (8) fastrace under a root span. A root collects its children until it
    // ends, so a new root every 1 024 calls keeps memory flat; its cost is
    // included, spread over those calls.
    fastrace::set_reporter(NoopReporter, fastrace::collector::Config::default());
    group.bench_function("08_fastrace_under_root", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut done = 0;
            while done < iters {
                let burst = (iters - done).min(1_024);
                let root =
                    fastrace::Span::root("Bench.Root", fastrace::collector::SpanContext::random());
                let parent = root.set_local_parent();
                for n in done..done + burst {
                    let _ = black_box(fastraced(black_box(n)));
                }
                drop(parent);
                drop(root);
                done += burst;
            }
            start.elapsed()
        })
    });
    fastrace::flush();

    // (9) autometrics with its prometheus backend.
    sync_bench(group, "09_autometrics_prometheus", autometricsed);
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("per_call");

    // What a call costs at least: two clock readings (start and end).
    #[cfg(target_arch = "x86_64")]
    group.bench_function("00_floor_two_tsc_reads", |b| {
        // SAFETY: `rdtsc` exists on every x86_64 CPU and has no side effects.
        b.iter(|| unsafe {
            let start = core::arch::x86_64::_rdtsc();
            black_box(start);
            core::arch::x86_64::_rdtsc().wrapping_sub(start)
        })
    });
    // What observe's clock.rs does: a `quanta::Clock` behind a lazy static.
    static QUANTA: LazyLock<quanta::Clock> = LazyLock::new(quanta::Clock::new);
    group.bench_function("00_floor_two_quanta_raw", |b| {
        b.iter(|| {
            let start = QUANTA.raw();
            black_box(start);
            QUANTA.delta_as_nanos(start, QUANTA.raw())
        })
    });
    group.bench_function("00_floor_two_instant_now", |b| {
        b.iter(|| {
            let start = Instant::now();
            black_box(start);
            start.elapsed()
        })
    });

    // (1) the function itself.
    sync_bench(&mut group, "01_bare", bare);
    group.bench_function("01b_bare_async_block_on", |b| {
        let mut n = 0_u64;
        b.iter(|| {
            n = n.wrapping_add(1);
            futures::executor::block_on(bare_async(black_box(n)))
        })
    });
    threads_bench(&mut group, "01t_bare_2_threads", 2, bare);

    observe_benches(&mut group);
    peer_benches(&mut group);

    group.finish();
    criterion.final_summary();
}
