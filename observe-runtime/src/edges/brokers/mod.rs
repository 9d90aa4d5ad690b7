//! HTTP and the message brokers, one file each behind its cargo feature:
//! `http` (`http::HeaderMap`), `amqp` (lapin), `nats` (async-nats), `kafka`
//! (rdkafka). Each file holds the broker's header carrier (`carrier`, public
//! as `propagation::carriers::<broker>`) and what its received messages
//! record on a consumer span.
//!
//! Each carrier is read into a plain list of W3C header strings first, so that
//! validation and counting happen in one place, whatever the broker.

/// The W3C header names observe reads and writes.
pub(crate) const NAMES: [&str; 3] = ["traceparent", "tracestate", "baggage"];

/// The W3C header `name` is, in any case (header names are
/// case-insensitive in HTTP, and the specifications ask for them to be
/// matched so in every protocol).
pub(crate) fn known(name: &str) -> Option<&'static str> {
    NAMES.into_iter().find(|n| name.eq_ignore_ascii_case(n))
}

#[cfg(feature = "amqp")]
pub(crate) mod amqp;
#[cfg(feature = "http")]
pub(crate) mod http;
#[cfg(feature = "kafka")]
pub(crate) mod kafka;
#[cfg(feature = "nats")]
pub(crate) mod nats;
