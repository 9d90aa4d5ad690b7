//! A driver for instruction counts of the HTTP server layer: N requests
//! through the in-process axum router of `benches/http_layer.rs`
//! (`tower::ServiceExt::oneshot`, no sockets), on a current-thread runtime.
//!
//! ```sh
//! cargo build --release -p observe-benches --example profile_http
//! N=20000 bash benches/callgrind_http.sh     # every mode, per request
//! ```
//!
//! Modes: `bare` (the router alone), `noop_layer` (a layer that does
//! nothing), `unsampled` and `sampled` (`ObserveLayer`, observe initialised,
//! every request unsampled or sampled and exported to an exporter that
//! counts). Every mode sends the same number of requests.

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use observe_benches::{observe_config, CountingExporter, NoopExporter};
use observe_runtime::http::ObserveLayer;
use observe_runtime::Sampler;
use tower::ServiceExt as _;

#[path = "../benches/common/http.rs"]
mod app;

fn send(runtime: &tokio::runtime::Runtime, app: &Router, n: u64) {
    runtime.block_on(async {
        for _ in 0..n {
            let response = app.clone().oneshot(app::request()).await.unwrap();
            black_box(response.status());
        }
    });
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "unsampled".into());
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let send = |app: &Router, n| send(&runtime, app, n);
    match mode.as_str() {
        "bare" => send(&app::router(), n),
        "noop_layer" => send(&app::router_with_a_no_op_layer(), n),
        "unsampled" => {
            let _guard = observe_runtime::init(observe_config(Sampler::AlwaysOff, NoopExporter))
                .expect("observe starts");
            send(&app::router().layer(ObserveLayer::new()), n);
        }
        "sampled" => {
            let exporter = CountingExporter::default();
            let _guard = observe_runtime::init(observe_config(Sampler::AlwaysOn, exporter.clone()))
                .expect("observe starts");
            let app = app::router().layer(ObserveLayer::new());
            // Bursts that fit the ring, flushed between them, so every span
            // is exported.
            let mut done = 0;
            while done < n {
                let burst = (n - done).min(4_096);
                send(&app, burst);
                done += burst;
                assert!(observe_runtime::force_flush(Duration::from_secs(60)));
            }
            assert_eq!(exporter.exported(), n, "every request's span exported");
        }
        other => {
            eprintln!(
                "unknown mode `{other}`, expected one of bare, noop_layer, unsampled, sampled"
            );
            std::process::exit(2);
        }
    }
}
