//! Where a process meets others: W3C propagation (`propagation`, with the
//! `traceparent` grammar in `traceparent`), one file
//! per broker's carrier and message reading (`brokers`), messaging spans
//! (`messaging`), HTTP server and client layers (`http`, features `tower` and
//! `reqwest`), gRPC layers (`grpc`, feature `tonic`),
//! the built-in `/metrics` server (`serve`), and the debug pages it serves
//! beside `/metrics` (`debug`).

pub(crate) mod brokers;
pub(crate) mod debug;
#[cfg(feature = "tonic")]
pub mod grpc;
#[cfg(feature = "http")]
pub mod http;
pub mod messaging;
pub mod propagation;
pub(crate) mod serve;
pub(crate) mod traceparent;
