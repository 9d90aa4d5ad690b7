//! Why `init` failed: the one error type users see.

use std::fmt;
use std::net::SocketAddr;

/// Why `init` failed.
/// `Debug` prints the same sentence as `Display`, so a `main` returning
/// `Result<(), Box<dyn Error>>` shows the fix, not the variant name.
#[derive(Clone, PartialEq, Eq)]
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

impl fmt::Debug for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for InitError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_fix_as_display_does() {
        let error = InitError::SubscriberExists;
        assert_eq!(format!("{error:?}"), error.to_string());
        assert!(format!("{error:?}").contains("set `LogOutput::Off`"));
        let many = InitError::Many(vec![
            InitError::invalid("OTEL_TRACES_SAMPLER", "sometimes", "expected `always_on`"),
            InitError::AlreadyInitialized,
        ]);
        assert_eq!(
            format!("{many:?}"),
            "invalid `OTEL_TRACES_SAMPLER` value \"sometimes\": expected `always_on`; \
             observe is already initialised: drop the previous guard first"
        );
    }
}
