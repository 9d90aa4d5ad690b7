//! Stopping on the signal a supervisor sends: Kubernetes, systemd and
//! `docker stop` send SIGTERM, a terminal sends SIGINT.
//!
//! A process that is stopped by a signal it does not handle exits at once,
//! and the spans still waiting for export are lost. [`shutdown_signal`] is
//! the future a service awaits instead; dropping the [`Guard`](crate::Guard)
//! afterwards exports every ended span within the shutdown timeout.

/// The signal that asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: a supervisor stops the process.
    Terminate,
    /// SIGINT: Ctrl-C.
    Interrupt,
}

impl Signal {
    /// The exit code a shell reports for a process ended by this signal
    /// (128 + the signal's number): 143 for SIGTERM, 130 for SIGINT. Exit
    /// with it to look to a supervisor as if the signal had ended the
    /// process.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Terminate => 128 + 15,
            Signal::Interrupt => 128 + 2,
        }
    }
}

/// Completes when the process is asked to stop: SIGTERM or SIGINT (on
/// platforms without SIGTERM, Ctrl-C). Await it in `main`, or hand it to a
/// server's graceful shutdown, then let the [`Guard`](crate::Guard) drop:
///
/// ```no_run
/// # async fn serve() {}
/// #[tokio::main]
/// async fn main() -> Result<(), observe_runtime::InitError> {
///     let guard = observe_runtime::init(observe_runtime::Config::from_env())?;
///     tokio::select! {
///         () = serve() => {}
///         signal = observe_runtime::shutdown_signal() => {
///             drop(guard); // every ended span is exported first
///             std::process::exit(signal.exit_code());
///         }
///     }
///     Ok(())
/// }
/// ```
///
/// Called inside a tokio runtime (`#[tokio::main]`), it takes over both
/// signals at once, so a signal that comes before the future is first polled
/// still completes it instead of ending the process. Called elsewhere, it
/// takes them over when first polled, inside the runtime that polls it. A
/// signal that cannot be handled here leaves the future waiting for the
/// other.
pub fn shutdown_signal() -> impl std::future::Future<Output = Signal> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind: SignalKind| {
            tokio::runtime::Handle::try_current()
                .ok()
                .and_then(|_| signal(kind).ok())
        };
        let (terminate, interrupt) = (
            install(SignalKind::terminate()),
            install(SignalKind::interrupt()),
        );
        async move {
            let wait = |stream: Option<tokio::signal::unix::Signal>, kind: SignalKind| async move {
                match stream.or_else(|| signal(kind).ok()) {
                    Some(mut stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate, SignalKind::terminate()) => Signal::Terminate,
                () = wait(interrupt, SignalKind::interrupt()) => Signal::Interrupt,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            Signal::Interrupt
        }
    }
}
