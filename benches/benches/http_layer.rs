//! ns per request of an in-process axum router (`tower::ServiceExt::oneshot`,
//! no sockets) under observe's `ObserveLayer` and under the stack a user
//! would otherwise build, in one run (issue 19):
//!
//! 1. the bare router, and with a layer that does nothing (what any layer
//!    costs inside axum's router);
//! 2. `ObserveLayer`, observe initialised, every request unsampled;
//! 3. `ObserveLayer`, every request sampled, its span handed to export (an
//!    exporter that counts; the count is printed, and what the queue could
//!    not take is dropped and counted as in production);
//! 4. tower-http's `TraceLayer` with tracing-opentelemetry (every span
//!    sampled and exported to an exporter that does nothing) and a
//!    `prometheus` histogram by method, route and status, observed in an
//!    axum middleware;
//! 5. opentelemetry-instrumentation-tower's layer: an SDK span per request
//!    (sampled, batched to an exporter that does nothing) and the
//!    `http.server.request.duration` histogram in the SDK's meter provider.
//!
//! ```sh
//! cargo bench -p observe-benches --bench http_layer                          # wall time
//! OBSERVE_BENCH_CLOCK=cpu cargo bench -p observe-benches --bench http_layer  # thread CPU time
//! ```
//!
//! Each measurement runs its requests one after another inside one
//! `block_on` of a current-thread runtime, so every row pays the same
//! request building and polling; the rows' differences are the layers'.

#[path = "common/criterion.rs"]
mod setup;

use std::hint::black_box;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use criterion::Criterion;
use observe_benches::{observe_config, Clock, CountingExporter, NoopExporter};
use observe_runtime::http::ObserveLayer;
use observe_runtime::Sampler;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use prometheus::{HistogramOpts, HistogramVec};
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[path = "common/http.rs"]
mod app;

use app::{request, router, router_with_a_no_op_layer};

/// Times `iters` requests through `app`.
fn requests(criterion: &mut Criterion, clock: Clock, id: &str, app: Router) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let group_name = match clock {
        Clock::Wall => "http_layer",
        Clock::ThreadCpu => "http_layer_cpu",
    };
    let mut group = criterion.benchmark_group(group_name);
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = clock.read();
                for _ in 0..iters {
                    let response = app.clone().oneshot(request()).await.unwrap();
                    black_box(response.status());
                }
                clock.since(start)
            })
        })
    });
    group.finish();
}

/// The peer stack's histogram: what a user adds beside `TraceLayer`.
async fn observe_histogram(request: Request, next: Next) -> Response {
    static HISTOGRAM: std::sync::OnceLock<HistogramVec> = std::sync::OnceLock::new();
    let histogram = HISTOGRAM.get_or_init(|| {
        HistogramVec::new(
            HistogramOpts::new("http_server_request_duration_seconds", "requests"),
            &[
                "http_request_method",
                "http_route",
                "http_response_status_code",
            ],
        )
        .unwrap()
    });
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |m| m.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    histogram
        .with_label_values(&[&method, &route, response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

fn main() {
    let clock = Clock::from_env();
    let mut criterion = setup::criterion();

    requests(&mut criterion, clock, "1_bare_router", router());
    requests(
        &mut criterion,
        clock,
        "1b_router_with_a_no_op_layer",
        router_with_a_no_op_layer(),
    );

    {
        let _guard =
            observe_runtime::init(observe_config(Sampler::AlwaysOff, NoopExporter)).expect("init");
        requests(
            &mut criterion,
            clock,
            "2_observe_layer_unsampled",
            router().layer(ObserveLayer::new()),
        );
    }
    {
        let exporter = CountingExporter::default();
        let guard = observe_runtime::init(observe_config(Sampler::AlwaysOn, exporter.clone()))
            .expect("init");
        requests(
            &mut criterion,
            clock,
            "3_observe_layer_sampled",
            router().layer(ObserveLayer::new()),
        );
        drop(guard);
        eprintln!("observe: {} spans exported", exporter.exported());
    }
    {
        let provider = SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
            .with_batch_exporter(NoopExporter)
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let subscriber = tracing_subscriber::registry().with(layer);
        let _default = tracing::subscriber::set_default(subscriber);
        requests(
            &mut criterion,
            clock,
            "4_tower_http_trace_tracing_otel_prometheus",
            router()
                .layer(axum::middleware::from_fn(observe_histogram))
                .layer(tower_http::trace::TraceLayer::new_for_http()),
        );
        drop(_default);
        let _ = provider.shutdown();
    }
    {
        let provider = SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
            .with_batch_exporter(NoopExporter)
            .build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        // Exported every 60 s, the SDK's default: not within a measurement.
        let meters = SdkMeterProvider::builder()
            .with_periodic_exporter(InMemoryMetricExporter::default())
            .build();
        opentelemetry::global::set_meter_provider(meters.clone());
        requests(
            &mut criterion,
            clock,
            "5_opentelemetry_instrumentation_tower",
            router().layer(opentelemetry_instrumentation_tower::http::server::Layer::new()),
        );
        let _ = provider.shutdown();
        let _ = meters.shutdown();
    }
    criterion.final_summary();
}
