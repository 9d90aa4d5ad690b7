//! ns per `tracing::info!` inside an observed call, in one run (issue 22):
//!
//! 0. the observed call with no event, the floor the rows below subtract;
//! 1. observe's JSON layer, the event kept (a JSON line written to a sink);
//! 2. observe's JSON layer with trace-aware log sampling, the event
//!    suppressed (the call's trace unsampled, a ratio of 0): the goal is
//!    under 15 ns over row 0;
//! 3. observe's layer exporting the event over OTLP/gRPC to an in-process
//!    receiver (the caller builds the record and queues it; the export task
//!    sends it);
//! 4. tracing-subscriber's fmt layer in JSON, to the same sink;
//! 5. opentelemetry-appender-tracing's bridge into an SDK logger provider
//!    with a batch processor and an exporter that does nothing;
//!
//! and row 2b, the same event dispatched by `tracing` to a layer that does
//! nothing: what any layer pays before it can decide.
//!
//! ```sh
//! cargo bench -p observe-benches --bench log_events                          # wall time
//! OBSERVE_BENCH_CLOCK=cpu cargo bench -p observe-benches --bench log_events  # thread CPU time
//! ```
//!
//! Every row runs the same observed function, with observe initialised and
//! its trace unsampled unless the row says otherwise; only the subscriber
//! (set as the thread's default for the row) and observe's log settings
//! change. Rows 3 and 5 print how many records reached their exporter.

#[path = "common/criterion.rs"]
mod setup;

use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use criterion::Criterion;
use observe_benches::{observe_config, Clock, NoopExporter};
use observe_runtime::{observe, ExportProtocol, LogExport, LogOutput, LogSampling, Sampler};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLoggerProvider};
use tracing_subscriber::layer::SubscriberExt as _;

#[observe(span = "Bench.Event")]
fn with_event(i: u64) -> u64 {
    tracing::info!(order.id = i, "order accepted");
    i
}

#[observe(span = "Bench.Quiet")]
fn without_event(i: u64) -> u64 {
    i
}

/// A writer that keeps nothing: what a line costs to format, not to store.
struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(black_box(buf).len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn calls(criterion: &mut Criterion, clock: Clock, id: &str, f: fn(u64) -> u64) {
    let group_name = match clock {
        Clock::Wall => "log_event",
        Clock::ThreadCpu => "log_event_cpu",
    };
    let mut group = criterion.benchmark_group(group_name);
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let start = clock.read();
            for i in 0..iters {
                black_box(f(black_box(i)));
            }
            clock.since(start)
        })
    });
    group.finish();
}

/// observe's JSON layer writing to [`Sink`], as the thread's subscriber.
fn observe_layer() -> tracing::subscriber::DefaultGuard {
    let output = LogOutput::Writer(Arc::new(Mutex::new(Sink)));
    tracing::subscriber::set_default(
        tracing_subscriber::registry().with(observe_runtime::logs::layer_with(&output)),
    )
}

/// A layer that takes every event and does nothing with it.
struct NothingLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NothingLayer {}

/// An SDK log exporter that counts what reaches it.
#[derive(Clone, Debug, Default)]
struct CountingLogExporter(Arc<AtomicU64>);

impl LogExporter for CountingLogExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        self.0
            .fetch_add(batch.iter().count() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn main() {
    let clock = Clock::from_env();
    let mut criterion = setup::criterion();
    let unsampled = || observe_config(Sampler::AlwaysOff, NoopExporter);

    {
        let _guard = observe_runtime::init(unsampled()).expect("init");
        let _subscriber = observe_layer();
        calls(
            &mut criterion,
            clock,
            "0_observed_call_no_event",
            without_event,
        );
        calls(&mut criterion, clock, "1_observe_json_kept", with_event);
    }
    {
        let _guard =
            observe_runtime::init(unsampled().log_sampling(LogSampling::new().ratio(0.0).burst(0)))
                .expect("init");
        let _subscriber = observe_layer();
        calls(&mut criterion, clock, "2_observe_sampled_out", with_event);
    }
    {
        let _guard = observe_runtime::init(unsampled()).expect("init");
        let _subscriber =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(NothingLayer));
        calls(
            &mut criterion,
            clock,
            "2b_layer_that_does_nothing",
            with_event,
        );
    }
    {
        let receiver = observe_tests::OtlpReceiver::start();
        let guard = observe_runtime::init(unsampled().log_export(LogExport::Otlp {
            endpoint: receiver.grpc_endpoint(),
            protocol: ExportProtocol::Grpc,
        }))
        .expect("init");
        let subscriber = observe_layer();
        calls(&mut criterion, clock, "3_observe_otlp", with_event);
        drop(subscriber);
        drop(guard);
        eprintln!(
            "observe over OTLP: {} records received",
            receiver.logs().len()
        );
    }
    {
        let _guard = observe_runtime::init(unsampled()).expect("init");
        let _subscriber = tracing::subscriber::set_default(
            tracing_subscriber::registry()
                .with(tracing_subscriber::fmt::layer().json().with_writer(|| Sink)),
        );
        calls(
            &mut criterion,
            clock,
            "4_tracing_subscriber_fmt_json",
            with_event,
        );
    }
    {
        let _guard = observe_runtime::init(unsampled()).expect("init");
        let exporter = CountingLogExporter::default();
        let provider = SdkLoggerProvider::builder()
            .with_batch_exporter(exporter.clone())
            .build();
        let subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(
            opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider),
        ));
        calls(
            &mut criterion,
            clock,
            "5_opentelemetry_appender_tracing",
            with_event,
        );
        drop(subscriber);
        let _ = provider.shutdown();
        eprintln!(
            "opentelemetry-appender-tracing: {} records exported",
            exporter.0.load(Ordering::Relaxed)
        );
    }
    criterion.final_summary();
}
