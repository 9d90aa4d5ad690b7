//! The bottom layer: health counters, the init error, text helpers. It uses
//! nothing of the crate, so every other layer may use it.

pub(crate) mod error;
pub(crate) mod health;
pub(crate) mod text;
