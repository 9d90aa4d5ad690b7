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

#[cfg(feature = "amqp")]
pub(crate) mod amqp;
#[cfg(feature = "http")]
pub(crate) mod http;
#[cfg(feature = "kafka")]
pub(crate) mod kafka;
#[cfg(feature = "nats")]
pub(crate) mod nats;
