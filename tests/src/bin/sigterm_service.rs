//! A service for `tests/tests/shutdown.rs`: configured from the `OTEL_*`
//! variables, it ends the number of observed calls given as its argument,
//! prints `ended <spans>`, then waits for `observe_runtime::shutdown_signal()`
//! and exits with the signal's exit code after dropping its guard.

use observe_runtime::{observe, Config, LogOutput};

#[observe(span = "Sigterm.Handle", kind = server)]
async fn handle(i: u64) -> u64 {
    step(i).await
}

#[observe(span = "Sigterm.Step", kind = client)]
async fn step(i: u64) -> u64 {
    tokio::task::yield_now().await;
    i
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: u64 = std::env::args().nth(1).map_or(Ok(20), |n| n.parse())?;
    let guard = observe_runtime::init(Config::from_env().logs(LogOutput::Off))?;
    // Taken over before anything is reported, so the signal cannot come first.
    let stop = observe_runtime::shutdown_signal();
    for i in 0..calls {
        handle(i).await;
    }
    println!("ended {}", calls * 2);
    let signal = stop.await;
    drop(guard);
    std::process::exit(signal.exit_code());
}
