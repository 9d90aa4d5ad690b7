//! ns per call of the same trivial function under observe and under its
//! peers, in one run (issue 5, benchmarks 1-10).
//!
//! One process, in a fixed order, because observe's `init` is process-wide:
//! the uninitialised case runs first, then each observe configuration under
//! its own `Guard`, then the peers (each `tracing` subscriber is scoped with
//! `set_default`, so none of them sees another's calls).
//!
//! ```sh
//! cargo bench -p observe-benches --bench per_call                          # wall time
//! OBSERVE_BENCH_CLOCK=cpu cargo bench -p observe-benches --bench per_call  # thread CPU time
//! ```
//!
//! Every measurement times a loop of calls with [`Clock`]: wall time (group
//! `per_call`) or the calling thread's CPU time (group `per_call_cpu`), which
//! leaves out the time slices other processes took on a shared machine.

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion};
use observe_benches::{
    bare, bare_async, body, metric_sum, observe_config, observed, observed_async, threads_cpu_time,
    BenchError, Clock, CountingExporter, NoopExporter, Workers,
};
use observe_runtime::Sampler;
use opentelemetry::trace::{Status, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use prometheus::{HistogramOpts, HistogramVec, Registry};
use tracing_subscriber::layer::SubscriberExt as _;

/// A criterion group and the clock its measurements use.
struct Bench<'a> {
    group: BenchmarkGroup<'a, criterion::measurement::WallTime>,
    clock: Clock,
}

impl Bench<'_> {
    /// Times `iters` calls of `f`, whose argument is the call's number.
    fn calls<R>(&mut self, id: &str, mut f: impl FnMut(u64) -> R) {
        let clock = self.clock;
        self.group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let start = clock.read();
                for n in 0..iters {
                    black_box(f(black_box(n)));
                }
                clock.since(start)
            })
        });
    }

    /// Times `iters` calls in bursts of `burst`, running `between` after
    /// each burst outside the timing.
    fn bursts(&mut self, id: &str, burst: u64, mut f: impl FnMut(u64), mut between: impl FnMut()) {
        let clock = self.clock;
        self.group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let end = iters.min(done + burst);
                    let start = clock.read();
                    for n in done..end {
                        f(black_box(n));
                    }
                    timed += clock.since(start);
                    done = end;
                    between();
                }
                timed
            })
        });
    }

    /// `threads` threads calling `f` together: time per call per thread
    /// (the slowest thread's).
    fn threads(&mut self, id: &str, threads: usize, f: fn(u64) -> Result<u64, BenchError>) {
        let workers = Workers::new(threads, self.clock, f);
        workers.run(10_000);
        self.group
            .bench_function(id, |b| b.iter_custom(|iters| workers.run(iters)));
    }
}

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

/// observe's span counters at one moment, to report one row's run alone.
#[derive(Clone, Copy)]
struct SpanCounts {
    exported: u64,
    queue_full: f64,
    export_failed: f64,
}

impl SpanCounts {
    fn now(exporter: &CountingExporter) -> SpanCounts {
        let text = observe_runtime::metrics::render();
        SpanCounts {
            exported: exporter.exported(),
            queue_full: metric_sum(&text, "observe_spans_dropped_total", "queue_full"),
            export_failed: metric_sum(&text, "observe_spans_dropped_total", "export_failed"),
        }
    }

    /// What happened since `before`, on one line.
    fn since(self, before: SpanCounts) -> String {
        format!(
            "exported {}, dropped queue_full {}, dropped export_failed {} (this row's run); observe threads' CPU so far {:.2} s",
            self.exported - before.exported,
            self.queue_full - before.queue_full,
            self.export_failed - before.export_failed,
            threads_cpu_time("observe").as_secs_f64(),
        )
    }
}

fn observe_benches(bench: &mut Bench<'_>) {
    // (2) before any `init`.
    assert!(!observe_runtime::is_initialized());
    bench.calls("02_observe_not_initialised", observed);

    // (3) initialised, no trace sampled: ids, clock, current span, histogram.
    {
        let _guard = observe_runtime::init(observe_config(Sampler::AlwaysOff, NoopExporter))
            .expect("observe starts");
        bench.calls("03_observe_unsampled", observed);
        bench.threads("03t_observe_unsampled_2_threads", 2, observed);
        bench.threads("03t_observe_unsampled_1_thread_harness", 1, observed);
    }

    // (4), (5), (10): every span sampled and handed to an exporter that
    // counts it and does nothing else.
    {
        let exporter = CountingExporter::default();
        let _guard = observe_runtime::init(observe_config(Sampler::AlwaysOn, exporter.clone()))
            .expect("observe starts");
        let before = SpanCounts::now(&exporter);
        bench.calls("04_observe_sampled", observed);
        observe_runtime::force_flush(Duration::from_secs(30));
        eprintln!("after 04: {}", SpanCounts::now(&exporter).since(before));
        // The same, in bursts that fit the per-thread ring, with the exporter
        // caught up between bursts (outside the timing): no span is dropped,
        // so every call pays for the ring write. Checked below.
        let before = SpanCounts::now(&exporter);
        let calls = std::cell::Cell::new(0_u64);
        bench.bursts(
            "04b_observe_sampled_no_drops",
            4_096,
            |n| {
                calls.set(calls.get() + 1);
                let _ = black_box(observed(n));
            },
            || {
                assert!(
                    observe_runtime::force_flush(Duration::from_secs(30)),
                    "04b: the export side did not catch up"
                );
            },
        );
        let after = SpanCounts::now(&exporter);
        eprintln!("after 04b: {}", after.since(before));
        assert_eq!(
            after.exported - before.exported,
            calls.get(),
            "04b: every call's span exported"
        );
        assert_eq!(
            after.queue_full + after.export_failed,
            before.queue_full + before.export_failed,
            "04b: nothing dropped"
        );
        let before = after;
        bench.calls("05_observe_sampled_async_block_on", |n| {
            futures::executor::block_on(observed_async(n))
        });
        bench.threads("10_observe_sampled_2_threads", 2, observed);
        bench.threads("10_observe_sampled_1_thread_harness", 1, observed);
        observe_runtime::force_flush(Duration::from_secs(30));
        eprintln!(
            "after 05 and 10: {}",
            SpanCounts::now(&exporter).since(before)
        );
    }
}

fn peer_benches(bench: &mut Bench<'_>) {
    // (6) `#[tracing::instrument]` + tracing-opentelemetry + prometheus.
    {
        let provider = sdk_provider();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let subscriber = tracing_subscriber::registry().with(layer);
        let _default = tracing::subscriber::set_default(subscriber);
        bench.calls("06_tracing_otel_layer_prometheus", traced_with_histogram);
        drop(_default);
        let _ = provider.shutdown();
    }

    // (7) an SDK span by hand + prometheus.
    {
        let provider = sdk_provider();
        let tracer = provider.tracer("bench");
        bench.calls("07_otel_sdk_in_span_prometheus", |x| {
            otel_by_hand(&tracer, x)
        });
        let _ = provider.shutdown();
    }

    // (8) fastrace under a root span. A root collects its children until it
    // ends, so a new root every 256 calls keeps memory flat; its cost is
    // included, spread over those calls.
    fastrace::set_reporter(NoopReporter, fastrace::collector::Config::default());
    let root = RefCell::new(None);
    bench.bursts(
        "08_fastrace_under_root",
        256,
        |n| {
            root.borrow_mut().get_or_insert_with(|| {
                let span =
                    fastrace::Span::root("Bench.Root", fastrace::collector::SpanContext::random());
                let guard = span.set_local_parent();
                (guard, span)
            });
            let _ = black_box(fastraced(n));
        },
        || drop(root.borrow_mut().take()),
    );
    fastrace::flush();

    // (9) autometrics with its prometheus backend.
    bench.calls("09_autometrics_prometheus", autometricsed);
}

fn main() {
    let clock = Clock::from_env();
    let mut criterion = Criterion::default().configure_from_args();
    let name = match clock {
        Clock::Wall => "per_call",
        Clock::ThreadCpu => "per_call_cpu",
    };
    {
        let mut bench = Bench {
            group: criterion.benchmark_group(name),
            clock,
        };

        // What a call costs at least: two clock readings (start and end).
        #[cfg(target_arch = "x86_64")]
        bench.calls("00_floor_two_tsc_reads", |_| {
            // SAFETY: `rdtsc` exists on every x86_64 CPU and has no side effects.
            unsafe {
                let start = core::arch::x86_64::_rdtsc();
                black_box(start);
                core::arch::x86_64::_rdtsc().wrapping_sub(start)
            }
        });
        // The same two reads around the rest of a per-thread design's work.
        #[cfg(target_arch = "x86_64")]
        bench.calls(
            "00_floor_per_thread_prototype",
            observe_benches::prototype::<false>,
        );
        #[cfg(target_arch = "x86_64")]
        bench.calls(
            "00_floor_per_thread_prototype_sampled",
            observe_benches::prototype::<true>,
        );
        // What observe's clock.rs does: a `quanta::Clock` behind a lazy static.
        static QUANTA: LazyLock<quanta::Clock> = LazyLock::new(quanta::Clock::new);
        bench.calls("00_floor_two_quanta_raw", |_| {
            let start = QUANTA.raw();
            black_box(start);
            QUANTA.delta_as_nanos(start, QUANTA.raw())
        });
        bench.calls("00_floor_two_instant_now", |_| {
            let start = Instant::now();
            black_box(start);
            start.elapsed()
        });

        // (1) the function itself.
        bench.calls("01_bare", bare);
        bench.calls("01b_bare_async_block_on", |n| {
            futures::executor::block_on(bare_async(n))
        });
        bench.threads("01t_bare_2_threads", 2, bare);
        bench.threads("01t_bare_1_thread_harness", 1, bare);

        observe_benches(&mut bench);
        peer_benches(&mut bench);

        bench.group.finish();
    }
    criterion.final_summary();
}
