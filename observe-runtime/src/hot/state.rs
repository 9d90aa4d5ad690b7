//! The per-thread block and the process-wide switches the per-call path
//! reads, and the panic hook that gives a panicking span its message.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

use super::context::{self, Ids};
use super::histogram::ShardCache;
use super::ring::Ring;

/// Everything the per-call path keeps per thread, in one block: one
/// thread-local access per call site in the runtime, and no lazy
/// initialisation or destructor check (the block is `const`-initialised and
/// has no `Drop`, so the compiler reads it straight from the thread's TLS
/// segment).
pub(crate) struct Local {
    /// The current span's ids and flags (see `context.rs`).
    pub(crate) current: Cell<Ids>,
    /// The current context's `tracestate`: a reference owned by this cell
    /// (`TraceState::into_raw`), or null. Null whenever `current` has no
    /// trace. Kept apart from `current` so that the per-call path, which
    /// leaves it as it is, never copies it.
    pub(crate) current_state: Cell<*const ()>,
    /// The id generator's state (see `ids.rs`); `0` until the first id.
    pub(crate) rng: Cell<u64>,
    /// This thread's copy of [`Hot`]'s "the hot path reads the TSC", taken
    /// by its first span (`false` until then, which only sends calls down
    /// the portable path): the per-call path reads it next to the
    /// generator, not through the process-wide static.
    pub(crate) tsc: Cell<bool>,
    /// This thread's export ring, or null before its first sampled span and
    /// once the ring's owner (a thread-local of `export.rs`) is destroyed.
    pub(crate) ring: Cell<*const Ring>,
    /// This thread's histogram shards for successful calls, by callsite
    /// index (see `metrics.rs`): a table owned by a thread-local of
    /// `metrics.rs`, null and `0` before its first call and once it is
    /// destroyed.
    pub(crate) shards: Cell<*const ShardCache>,
    pub(crate) shards_len: Cell<usize>,
    /// `shards_len` once `tsc` is decided and true, `0` otherwise: a
    /// success's one compare, which sends both a thread whose clock is not
    /// the TSC and a shard not cached yet down the slow path.
    pub(crate) shards_fast_len: Cell<usize>,
    /// This thread's calls started, by callsite index (see `running.rs`): a
    /// table owned by a thread-local there, null and `0` before this
    /// thread's first call and once it is destroyed.
    pub(crate) started: Cell<*const AtomicU64>,
    pub(crate) started_len: Cell<usize>,
    /// `started_len` once `tsc` is decided, `0` before: the synchronous
    /// start's one compare, which sends both a thread's first span and a
    /// callsite its table does not hold yet down the slow path.
    pub(crate) started_fast_len: Cell<usize>,
}

impl Local {
    /// A table's bound for a per-call path that reads the TSC itself: its
    /// length once this thread decided to, `0` otherwise, which sends the
    /// thread's first call, and every call without the TSC, to the slow
    /// path with the compare the path makes anyway.
    pub(crate) fn tsc_bound(&self, len: usize) -> usize {
        if self.tsc.get() {
            len
        } else {
            0
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            current: Cell::new(Ids::NONE),
            current_state: Cell::new(std::ptr::null()),
            rng: Cell::new(0),
            tsc: Cell::new(false),
            ring: Cell::new(std::ptr::null()),
            shards: Cell::new(std::ptr::null()),
            shards_len: Cell::new(0),
            shards_fast_len: Cell::new(0),
            started: Cell::new(std::ptr::null()),
            started_len: Cell::new(0),
            started_fast_len: Cell::new(0),
        }
    };
}

/// This thread's [`Local`] block.
///
/// Only the address is taken inside `LocalKey::with`: a closure that small
/// is always inlined, so the access compiles to an offset from the thread
/// pointer. Handing a large closure to `with` leaves it behind an
/// out-of-line `with` and an indirect call to the key's accessor.
#[inline(always)]
pub(crate) fn local() -> &'static Local {
    let local: *const Local = LOCAL.with(|local| local as *const Local);
    // SAFETY: `LOCAL` is `const`-initialised and has no destructor, so its
    // storage is valid for as long as this thread runs, and the reference
    // cannot leave the thread: `Local` is not `Sync`, so `&Local` is not
    // `Send`.
    unsafe { &*local }
}

/// Runs `f` on this thread's [`Local`] block.
#[inline(always)]
pub(crate) fn with_local<R>(f: impl FnOnce(&Local) -> R) -> R {
    f(local())
}

/// The process-wide switches the per-call path reads, in one static: a call
/// loads its address once (through the GOT, in position-independent code)
/// rather than once per switch.
pub(crate) struct Hot {
    enabled: AtomicBool,
    /// Set by `clock::calibrate` when quanta's raw source is the TSC, so the
    /// hot path may read it itself. Decided once per process (quanta picks
    /// its source once), so a thread's copy in [`Local`] never goes stale.
    direct_tsc: AtomicBool,
    parent_based: AtomicBool,
    /// A root span is sampled when the low 64 bits of its trace id, shifted
    /// right by one, are below this: `1 << 63` samples every trace, `0` none
    /// (OpenTelemetry's `TraceIdRatioBased` comparison).
    root_threshold: AtomicU64,
}

static HOT: Hot = Hot {
    enabled: AtomicBool::new(false),
    direct_tsc: AtomicBool::new(false),
    parent_based: AtomicBool::new(true),
    root_threshold: AtomicU64::new(ALWAYS),
};

/// The root threshold that samples every trace.
pub(crate) const ALWAYS: u64 = 1 << 63;

/// The process-wide switches.
#[inline(always)]
pub(crate) fn hot() -> &'static Hot {
    &HOT
}

impl Hot {
    /// Whether the hot path reads the TSC itself.
    #[inline(always)]
    pub(crate) fn direct_tsc(&self) -> bool {
        self.direct_tsc.load(Ordering::Relaxed)
    }

    /// Whether a root span with this trace id is sampled.
    #[inline(always)]
    pub(crate) fn sample_root(&self, trace_id: u128) -> bool {
        ((trace_id as u64) >> 1) < self.root_threshold.load(Ordering::Relaxed)
    }

    /// The flags of a child of `parent`: its sampling decision, and the
    /// parent's random flag. Parent-based, that is the parent's flags as
    /// they are (they hold no other bit).
    #[inline(always)]
    pub(crate) fn child_flags(&self, parent: Ids) -> u8 {
        if self.parent_based.load(Ordering::Relaxed) {
            parent.flags
        } else {
            u8::from(self.sample_root(parent.trace_id)) | (parent.flags & context::RANDOM)
        }
    }
}

/// One relaxed load: the whole cost of `#[observe]` before `init`.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    HOT.enabled.load(Ordering::Relaxed)
}

pub(crate) fn set_enabled(on: bool) {
    HOT.enabled.store(on, Ordering::Release);
}

pub(crate) fn set_direct_tsc(on: bool) {
    HOT.direct_tsc.store(on, Ordering::Relaxed);
}

pub(crate) fn set_sampler(threshold: u64, parent_based: bool) {
    HOT.root_threshold.store(threshold, Ordering::Relaxed);
    HOT.parent_based.store(parent_based, Ordering::Relaxed);
}

/// The threshold that samples `ratio` of all trace ids.
pub(crate) fn ratio_threshold(ratio: f64) -> u64 {
    if ratio >= 1.0 {
        ALWAYS
    } else if ratio <= 0.0 {
        0
    } else {
        (ratio * ALWAYS as f64) as u64
    }
}

thread_local! {
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Chains a panic hook that remembers the message of a panic raised inside an
/// observed call, for the span's status. The previous hook still runs.
pub(crate) fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if context::current_ids().is_valid() {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panicked".to_owned());
                let _ = PANIC_MESSAGE.try_with(|m| *m.borrow_mut() = Some(message));
            }
            previous(info);
        }));
    });
}

pub(crate) fn take_panic_message() -> Option<String> {
    PANIC_MESSAGE
        .try_with(|m| m.borrow().clone())
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hot_with(threshold: u64, parent_based: bool) -> Hot {
        Hot {
            enabled: AtomicBool::new(true),
            direct_tsc: AtomicBool::new(false),
            parent_based: AtomicBool::new(parent_based),
            root_threshold: AtomicU64::new(threshold),
        }
    }

    #[test]
    fn root_sampling_follows_the_ratio_at_its_edges() {
        let low = |low: u64| u128::from(low) | (7 << 64);
        let always = hot_with(ratio_threshold(1.0), false);
        assert!([0, 1, u64::MAX / 2, u64::MAX]
            .iter()
            .all(|&l| always.sample_root(low(l))));
        let never = hot_with(ratio_threshold(0.0), false);
        assert!(![0, 1, u64::MAX / 2, u64::MAX]
            .iter()
            .any(|&l| never.sample_root(low(l))));
        let half = hot_with(ratio_threshold(0.5), false);
        assert!(half.sample_root(low(0)));
        assert!(half.sample_root(low(u64::MAX / 2 - 2)));
        assert!(!half.sample_root(low(u64::MAX / 2 + 2)));
        assert!(!half.sample_root(low(u64::MAX)));
    }

    impl Hot {
        fn sample_child(&self, parent: Ids) -> bool {
            self.child_flags(parent) & context::SAMPLED != 0
        }
    }

    #[test]
    fn children_keep_the_random_flag_either_way() {
        let random_parent = Ids {
            trace_id: 1,
            span_id: 1,
            flags: context::RANDOM,
            remote: true,
        };
        assert_eq!(
            hot_with(ALWAYS, true).child_flags(random_parent),
            context::RANDOM
        );
        assert_eq!(
            hot_with(ALWAYS, false).child_flags(random_parent),
            context::RANDOM | context::SAMPLED
        );
        assert_eq!(
            hot_with(0, false).child_flags(random_parent),
            context::RANDOM
        );
    }

    #[test]
    fn children_follow_the_parent_only_when_parent_based() {
        let sampled_parent = Ids {
            trace_id: u128::from(u64::MAX),
            span_id: 1,
            flags: context::SAMPLED,
            remote: true,
        };
        assert!(hot_with(0, true).sample_child(sampled_parent));
        assert!(!hot_with(0, false).sample_child(sampled_parent));
        let unsampled_parent = Ids {
            flags: 0,
            trace_id: 1,
            ..sampled_parent
        };
        assert!(!hot_with(ALWAYS, true).sample_child(unsampled_parent));
        assert!(hot_with(ALWAYS, false).sample_child(unsampled_parent));
    }
}
