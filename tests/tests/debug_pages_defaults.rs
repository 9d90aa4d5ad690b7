//! When the debug pages are served: beside a loopback `/metrics` with the
//! embedded default, not beside one bound beyond loopback, not when spans
//! go to an OTLP collector unless asked.

use std::net::SocketAddr;

use observe_runtime::{Config, ExportProtocol, LogOutput};
use observe_tests::{free_addr, http_get};

fn status(addr: SocketAddr, path: &str) -> u16 {
    http_get(addr, path, &[]).0
}

fn base() -> Config {
    Config::default()
        .service_name("debug-defaults")
        .logs(LogOutput::Off)
}

#[test]
fn pages_follow_the_span_destination_and_stay_on_loopback() {
    // The embedded default on loopback: served.
    let addr = free_addr();
    let guard = observe_runtime::init(base().metrics_addr(addr)).expect("init");
    assert_eq!(guard.debug_pages_addr(), Some(addr));
    assert_eq!(status(addr, "/debug/metrics"), 200);
    assert_eq!(status(addr, "/debug/traces.json"), 200);
    drop(guard);

    // Bound beyond loopback: /metrics only.
    let port = free_addr().port();
    let exposed = SocketAddr::from(([0, 0, 0, 0], port));
    let guard = observe_runtime::init(base().metrics_addr(exposed)).expect("init");
    assert_eq!(guard.debug_pages_addr(), None);
    let local = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(status(local, "/metrics"), 200);
    assert_eq!(status(local, "/debug/metrics"), 404);
    assert_eq!(status(local, "/debug/traces"), 404);
    drop(guard);

    // Spans to a collector: off, unless asked.
    let addr = free_addr();
    let otlp = || base().otlp("http://127.0.0.1:9", ExportProtocol::HttpProtobuf);
    let guard = observe_runtime::init(otlp().metrics_addr(addr)).expect("init");
    assert_eq!(guard.debug_pages_addr(), None);
    assert_eq!(status(addr, "/debug/metrics"), 404);
    drop(guard);
    let addr = free_addr();
    let guard = observe_runtime::init(otlp().metrics_addr(addr).debug_pages(true)).expect("init");
    assert_eq!(guard.debug_pages_addr(), Some(addr));
    assert_eq!(status(addr, "/debug/metrics"), 200);
    drop(guard);
}
