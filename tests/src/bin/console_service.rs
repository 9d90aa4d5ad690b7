//! A service for `tests/tests/console.rs`: spans go to stderr (the embedded
//! default) and `/metrics` is served on 127.0.0.1 at a free port. It prints
//! `metrics <addr>`, then makes observed calls forever, printing
//! `calls <n>` every 1 000, until it is killed.

use std::io::Write;

use observe_runtime::{observe, Config, LogOutput, SpanOutput};

#[observe(span = "Console.Work", metric = "latency")]
fn work(i: u64) -> u64 {
    i
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = observe_runtime::init(
        Config::default()
            .service_name("console-test")
            .logs(LogOutput::Off)
            .spans(SpanOutput::Stderr)
            .metrics_addr("127.0.0.1:0".parse()?)
            .schedule_delay(std::time::Duration::from_millis(10)),
    )?;
    let addr = guard.metrics_addr().ok_or("metrics are served")?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "metrics {addr}")?;
    stdout.flush()?;
    for i in 1_u64.. {
        work(i);
        if i % 1_000 == 0 {
            writeln!(stdout, "calls {i}")?;
            stdout.flush()?;
            // A steady stream, not a burst the queue would drop first.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    drop(guard);
    Ok(())
}
