//! Trace and span ids from a per-thread generator: no lock, no syscall.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // `RandomState` is seeded from the OS once per process and varies per
    // instance; mixing in the thread id separates threads.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.write(format!("{:?}", std::thread::current().id()).as_bytes());
    hasher.finish() | 1
}

/// wyrand: passes BigCrush, one multiply per 64 bits.
#[inline]
fn next() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A random, non-zero 128-bit trace id.
#[inline]
pub(crate) fn trace_id() -> u128 {
    loop {
        let id = (u128::from(next()) << 64) | u128::from(next());
        if id != 0 {
            return id;
        }
    }
}

/// A random, non-zero 64-bit span id.
#[inline]
pub(crate) fn span_id() -> u64 {
    loop {
        let id = next();
        if id != 0 {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_non_zero() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(super::span_id()));
        }
        assert_ne!(super::trace_id(), super::trace_id());
    }
}
