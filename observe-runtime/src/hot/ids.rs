//! Trace and span ids from a per-thread generator: no lock, no syscall.
//!
//! The generator's state is a cell of the thread's `state::Local` block, so a
//! new root span's three words come from one thread-local access.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use super::state::Local;

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
pub(crate) fn seeded(local: &Local) -> u64 {
    match local.rng.get() {
        0 => seed(),
        s => s,
    }
}

/// An id word that is never zero: wyrand gives zero once in 2^64 draws, and
/// W3C gives the all-zero id the meaning "invalid". Replacing it with `1`
/// costs a compare and an add-with-carry (no loop, and no register for a
/// constant).
#[inline(always)]
fn non_zero(word: u64) -> u64 {
    word.max(1)
}

/// A random, non-zero 128-bit trace id and a random, non-zero 64-bit span
/// id, a new root span's three words, from the generator's state, and the
/// state that follows. Any state works (a thread's first comes from
/// [`seeded`]; reaching `0` later, once in 2^64 steps, only repeats a
/// sequence).
#[inline(always)]
pub(crate) fn root_ids_from(s: u64) -> (u64, u128, u64) {
    let (s, high) = step(s);
    let (s, low) = step(s);
    let (s, span) = step(s);
    // Zero only if both halves are: the low half alone decides sampling,
    // so it keeps its own draw.
    let trace = (u128::from(non_zero(high)) << 64) | u128::from(low);
    (s, trace, non_zero(span))
}

/// A random, non-zero 64-bit span id from the generator's state, and the
/// state that follows (as [`root_ids_from`]).
#[inline(always)]
pub(crate) fn span_id_from(s: u64) -> (u64, u64) {
    let (s, span) = step(s);
    (s, non_zero(span))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_non_zero() {
        let mut state = super::seeded(crate::hot::state::local());
        assert_ne!(state, 0, "a seeded generator");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let (next, span) = super::span_id_from(state);
            state = next;
            assert!(seen.insert(span));
        }
        let (state, first, span) = super::root_ids_from(state);
        let (_, second, _) = super::root_ids_from(state);
        assert_ne!(first, second);
        assert_ne!(first, 0);
        assert_ne!(span, 0);
        assert!(seen.insert(span));
    }

    #[test]
    fn threads_draw_different_ids() {
        let first = || super::span_id_from(super::seeded(crate::hot::state::local())).1;
        let here = first();
        let there = std::thread::spawn(first).join().expect("thread runs");
        assert_ne!(here, there);
    }
}
