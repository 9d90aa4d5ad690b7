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
//! rows `prototype` and `prototype_sampled` (`observe_benches::prototype`);
//! and for the log events of `benches/benches/log_events.rs` (issue 22),
//! each an unsampled observed call with observe's JSON layer as the
//! thread's subscriber and log sampling at a ratio of 0: `log_quiet` (no
//! event), `log_suppressed` (a `tracing::info!` that sampling suppresses),
//! and `log_nothing_layer` (the event, to a layer that does nothing).
//! Every mode makes the same number of calls, so instruction counts divide
//! by it.
//!
//! With `OBSERVE_BENCH_DEBUG_PAGES=1` (`observe_config`) the debug pages
//! are on and `sampled` ends by checking that every span reached the trace
//! store.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use observe_benches::{
    bare, observe_config, observed, observed_async, CountingExporter, EncodedCounter, NoopExporter,
};
use observe_benches::{body, BenchError};
use observe_runtime::Sampler;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;

/// The peers' subjects: the same body under fastrace's `#[trace]` and under
/// `#[tracing::instrument]` (with `err`, the signal `#[observe]` gives).
#[fastrace::trace(name = "Bench.Call")]
#[inline(never)]
fn fastraced(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[tracing::instrument(name = "Bench.Call", skip_all, err)]
#[inline(never)]
fn traced(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[observe_runtime::observe(span = "Bench.Event")]
#[inline(never)]
fn with_event(i: u64) -> u64 {
    tracing::info!(order.id = i, "order accepted");
    i
}

#[observe_runtime::observe(span = "Bench.Quiet")]
#[inline(never)]
fn without_event(i: u64) -> u64 {
    i
}

/// A layer that takes every event and does nothing with it.
struct NothingLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NothingLayer {}

/// The log modes: `f` called `n` times, observe unsampled with log
/// sampling suppressing every event below WARN, under `subscriber`.
fn log_calls(
    n: u64,
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
    f: fn(u64) -> u64,
) {
    let config = observe_config(Sampler::AlwaysOff, NoopExporter)
        .log_sampling(observe_runtime::LogSampling::new().ratio(0.0).burst(0));
    let _guard = observe_runtime::init(config).expect("observe starts");
    let _default = tracing::subscriber::set_default(subscriber);
    calls(n, |i| {
        black_box(f(i));
    });
}

/// observe's JSON layer, writing to a sink that keeps nothing.
fn observe_layer() -> impl tracing::Subscriber + Send + Sync + 'static {
    let output =
        observe_runtime::LogOutput::Writer(Arc::new(std::sync::Mutex::new(std::io::sink())));
    tracing_subscriber::registry().with(observe_runtime::logs::layer_with(&output))
}

/// A fastrace reporter that counts the spans it gets.
struct CountingReporter(Arc<AtomicU64>);

impl fastrace::collector::Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.0
            .fetch_add(black_box(spans).len() as u64, Ordering::Relaxed);
    }
}

/// An SDK provider whose batch processor exports into `exporter`.
fn sdk_provider(exporter: CountingExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .with_batch_exporter(exporter)
        .build()
}

/// `n` calls in bursts of `burst`, with `between` after each (callgrind
/// counts both).
fn bursts(n: u64, burst: u64, f: impl Fn(u64), mut between: impl FnMut()) {
    let mut done = 0;
    while done < n {
        let end = n.min(done + burst);
        for i in done..end {
            f(black_box(i));
        }
        done = end;
        between();
    }
}

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
            let counting = CountingExporter::default();
            let config = if mode == "encoded" {
                encoded.config(Sampler::AlwaysOn)
            } else {
                observe_config(Sampler::AlwaysOn, counting.clone())
            };
            let guard = observe_runtime::init(config).expect("observe starts");
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
            let exported = if mode == "encoded" {
                encoded.exported()
            } else {
                counting.exported()
            };
            assert_eq!(exported, n, "every span exported, none dropped");
        }
        // The peers, every span delivered to an exporter or reporter that
        // counts, in bursts their default queues hold (the SDK's batch
        // processor keeps 2 048), flushed between bursts.
        "fastrace" => {
            let reported = Arc::new(AtomicU64::new(0));
            fastrace::set_reporter(
                CountingReporter(Arc::clone(&reported)),
                fastrace::collector::Config::default(),
            );
            // A root collects its children until it ends: a new one every
            // 256 calls, as in the per_call bench; its cost is included.
            let mut done = 0;
            while done < n {
                let end = n.min(done + 256);
                {
                    let root = fastrace::Span::root(
                        "Bench.Root",
                        fastrace::collector::SpanContext::random(),
                    );
                    let _parent = root.set_local_parent();
                    for i in done..end {
                        let _ = black_box(fastraced(black_box(i)));
                    }
                }
                done = end;
                if done % 4_096 == 0 || done == n {
                    fastrace::flush();
                }
            }
            assert_eq!(
                reported.load(Ordering::Relaxed),
                n + n.div_ceil(256),
                "every span reported, and the roots"
            );
        }
        "otel_sdk" | "tracing_otel" => {
            let exporter = CountingExporter::default();
            let provider = sdk_provider(exporter.clone());
            let tracer = provider.tracer("bench");
            let flush = || {
                provider.force_flush().expect("the batch processor flushes");
            };
            if mode == "otel_sdk" {
                bursts(
                    n,
                    1_024,
                    |i| {
                        let _ = black_box(tracer.in_span("Bench.Call", |_| bare(i)));
                    },
                    flush,
                );
            } else {
                let layer = tracing_opentelemetry::layer().with_tracer(tracer.clone());
                let subscriber = tracing_subscriber::registry().with(layer);
                let _default = tracing::subscriber::set_default(subscriber);
                bursts(
                    n,
                    1_024,
                    |i| {
                        let _ = black_box(traced(i));
                    },
                    flush,
                );
            }
            assert_eq!(exporter.exported(), n, "every span exported");
            let _ = provider.shutdown();
        }
        "log_quiet" => log_calls(n, observe_layer(), without_event),
        "log_suppressed" => log_calls(n, observe_layer(), with_event),
        "log_nothing_layer" => log_calls(
            n,
            tracing_subscriber::registry().with(NothingLayer),
            with_event,
        ),
        other => {
            eprintln!(
                "unknown mode `{other}`, expected one of bare, uninit, unsampled, sampled, encoded, async, \
                 prototype, prototype_sampled, fastrace, otel_sdk, tracing_otel, log_quiet, \
                 log_suppressed, log_nothing_layer"
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
