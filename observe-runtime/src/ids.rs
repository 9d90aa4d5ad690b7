//! Trace and span ids from a per-thread generator: no lock, no syscall.
//!
//! The generator's state is a cell of the thread's `state::Local` block, so a
//! new root span's three words come from one thread-local access.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::state::Local;

#[cold]
#[inline(never)]
fn seed() -> u64 {
    // `RandomState` is seeded from the OS once per process and varies per
    // instance; mixing in the thread id separates threads.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.write(format!("{:?}", std::thread::current().id()).as_bytes());
    hasher.finish() | 1
}

/// wyrand: passes BigCrush, one multiply per 64 bits. A state of `0` means
/// "not seeded yet".
#[inline(always)]
fn next(state: &Cell<u64>) -> u64 {
    let mut s = state.get();
    if s == 0 {
        s = seed();
    }
    let x = s.wrapping_add(0xa076_1d64_78bd_642f);
    state.set(x);
    let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
    ((t >> 64) as u64) ^ (t as u64)
}

/// A random, non-zero 128-bit trace id.
#[inline(always)]
pub(crate) fn trace_id(local: &Local) -> u128 {
    loop {
        let id = (u128::from(next(&local.rng)) << 64) | u128::from(next(&local.rng));
        if id != 0 {
            return id;
        }
    }
}

/// A random, non-zero 64-bit span id.
#[inline(always)]
pub(crate) fn span_id(local: &Local) -> u64 {
    loop {
        let id = next(&local.rng);
        if id != 0 {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_non_zero() {
        crate::state::with_local(|local| {
            let mut seen = std::collections::HashSet::new();
            for _ in 0..10_000 {
                assert!(seen.insert(super::span_id(local)));
            }
            assert_ne!(super::trace_id(local), super::trace_id(local));
        });
    }
}
