//! A service for `tests/tests/metrics_server.rs`: `/metrics` on 127.0.0.1 at
//! a free port, observed calls in the background. It prints `metrics <addr>`,
//! then answers each `files` line on stdin with `files <opened> of 10`: how
//! many of ten files it could hold open at once.

use std::io::{BufRead, Write};

use observe_runtime::{observe, Config, LogOutput};

#[observe(span = "Metrics.Work", metric = "latency")]
fn work(i: u64) -> u64 {
    i
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("metrics-server-test")
            .logs(LogOutput::Off)
            .exporter(exporter)
            .metrics_addr("127.0.0.1:0".parse()?),
    )?;
    let addr = guard.metrics_addr().ok_or("metrics are served")?;
    std::thread::spawn(|| {
        for i in 0_u64.. {
            work(i);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "metrics {addr}")?;
    stdout.flush()?;
    for line in std::io::stdin().lock().lines() {
        if line? == "files" {
            let held: Vec<_> = (0..10)
                .filter_map(|_| std::fs::File::open(std::env::current_exe().ok()?).ok())
                .collect();
            writeln!(stdout, "files {} of 10", held.len())?;
            stdout.flush()?;
        }
    }
    drop(guard);
    Ok(())
}
