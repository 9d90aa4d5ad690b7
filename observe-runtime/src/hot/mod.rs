//! Everything one observed call touches: the callsite's static data, the
//! per-thread block, the clock and ids, the current span and baggage, the
//! span's start and end, the export ring and the histogram shard.
//!
//! Uses only `core`. Plain data types (`callsite`, `value`, `label`,
//! `limits`, `pii`, `sensitive`, `trace_state`) sit below the code that reads the
//! thread-local block (`state`, `clock`, `ids`, `context`, `baggage`, `span`, `ring`,
//! `histogram`, `running`, the calls in flight, and `failure`, the event of a
//! failed call).

pub(crate) mod callsite;
pub(crate) mod label;
pub(crate) mod limits;
pub(crate) mod pii;
pub(crate) mod sensitive;
pub(crate) mod trace_state;
pub(crate) mod value;

pub mod baggage;
pub(crate) mod clock;
pub mod context;
pub(crate) mod failure;
pub(crate) mod histogram;
pub(crate) mod ids;
pub(crate) mod ring;
pub(crate) mod running;
pub(crate) mod span;
pub(crate) mod state;
