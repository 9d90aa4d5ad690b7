//! Where a process meets others: W3C propagation (`propagation`, with the
//! `traceparent` grammar in `traceparent`), one file
//! per broker's carrier and message reading (`brokers`), messaging spans
//! (`messaging`), and the built-in `/metrics` server (`serve`).

pub(crate) mod brokers;
pub mod messaging;
pub mod propagation;
pub(crate) mod serve;
pub(crate) mod traceparent;
