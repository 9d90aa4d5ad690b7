//! Trace and span ids from a per-thread generator: no lock, no syscall.
//!
//! The generator's state is a cell of the thread's `state::Local` block, so a
//! new root span's three words come from one thread-local access.

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

/// wyrand: passes BigCrush, one multiply per 64 bits, from a seeded state.
#[inline(always)]
fn step(state: u64) -> (u64, u64) {
    let x = state.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
    (x, ((t >> 64) as u64) ^ (t as u64))
}

/// The generator's state, seeded on the thread's first id: one branch per
/// span rather than one per word.
#[inline(always)]
fn seeded(local: &Local) -> u64 {
    match local.rng.get() {
        0 => seed(),
        s => s,
    }
}

/// An id word that is never zero: wyrand gives zero once in 2^64 draws, and
/// W3C gives the all-zero id the meaning "invalid". Replacing it with a
/// constant costs a compare and a conditional move instead of a loop.
#[inline(always)]
fn non_zero(word: u64) -> u64 {
    if word == 0 {
        0x9e37_79b9_7f4a_7c15
    } else {
        word
    }
}

/// A random, non-zero 128-bit trace id and a random, non-zero 64-bit span
/// id: a new root span's three words, from one read and one write of the
/// generator's state.
#[inline(always)]
pub(crate) fn root_ids(local: &Local) -> (u128, u64) {
    let (s, high) = step(seeded(local));
    let (s, low) = step(s);
    let (s, span) = step(s);
    local.rng.set(s);
    // Zero only if both halves are: the low half alone decides sampling,
    // so it keeps its own draw.
    let trace = (u128::from(non_zero(high)) << 64) | u128::from(low);
    (trace, non_zero(span))
}

/// A random, non-zero 64-bit span id.
#[inline(always)]
pub(crate) fn span_id(local: &Local) -> u64 {
    let (s, span) = step(seeded(local));
    local.rng.set(s);
    non_zero(span)
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
            let (first, span) = super::root_ids(local);
            let (second, _) = super::root_ids(local);
            assert_ne!(first, second);
            assert_ne!(first, 0);
            assert_ne!(span, 0);
            assert!(seen.insert(span));
        });
    }
}
