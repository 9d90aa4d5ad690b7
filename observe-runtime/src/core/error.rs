//! Why `init` failed: the one error type users see.

use std::fmt;
use std::net::SocketAddr;

/// Why `init` failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitError {
    /// An environment variable or setting has a value observe cannot use.
    Invalid {
        /// The variable (or setting) name.
        var: &'static str,
        /// The offending value.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// Several settings are invalid; all are listed.
    Many(Vec<InitError>),
    /// `init` was called while a previous [`Guard`](crate::Guard) is alive.
    AlreadyInitialized,
    /// Another `tracing` subscriber is installed; use `LogOutput::Off` and add
    /// [`logs::layer`](crate::logs::layer) to yours.
    SubscriberExists,
    /// The OTLP exporter could not be built.
    Exporter(String),
    /// The `/metrics` listener could not bind.
    MetricsBind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
    },
    /// The background export runtime could not start.
    Runtime(String),
}

impl InitError {
    pub(crate) fn invalid(var: &'static str, value: &str, expected: &str) -> InitError {
        InitError::Invalid {
            var,
            value: value.to_owned(),
            expected: expected.to_owned(),
        }
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Invalid {
                var,
                value,
                expected,
            } => write!(f, "invalid `{var}` value {value:?}: {expected}"),
            InitError::Many(errors) => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            InitError::AlreadyInitialized => {
                f.write_str("observe is already initialised: drop the previous guard first")
            }
            InitError::SubscriberExists => f.write_str(
                "a `tracing` subscriber is already installed: set `LogOutput::Off` and add \
                 `observe_runtime::logs::layer()` to your subscriber",
            ),
            InitError::Exporter(e) => write!(f, "cannot build the OTLP exporter: {e}"),
            InitError::MetricsBind { addr, reason } => {
                write!(f, "cannot serve /metrics on {addr}: {reason}")
            }
            InitError::Runtime(e) => write!(f, "cannot start the export thread: {e}"),
        }
    }
}

impl std::error::Error for InitError {}
