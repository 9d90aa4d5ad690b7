//! How many calls of each callsite are running: the in-flight gauge on
//! `/metrics` and the running counts of the debug pages.
//!
//! A call's start adds one to its callsite's slot in a table owned by the
//! calling thread: a plain load and store on memory no other thread writes,
//! as the histogram shards are, so starting a span makes no shared write.
//! Its end is already counted: a callsite with a histogram counts every
//! ended call there (successes, errors, panics and cancellations alike). A
//! callsite without one takes one off the slot of the thread it ends on,
//! which need not be the thread it started on (a future moves between
//! workers), so slots wrap and only their sum over threads means anything.
//!
//! A reader sums every thread's tables and subtracts the ended calls:
//! [`in_flight`]. It reads the ended calls first, so a call that starts and
//! ends while it reads is counted as running rather than as minus one.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::callsite::{self, Callsite};
use super::histogram;
use super::state::{self, Local};

/// One thread's slots, by callsite index. Only the owning thread writes.
struct Table {
    slots: Box<[AtomicU64]>,
}

/// Every table a live thread owns, and what exited threads' tables held.
struct Tables {
    live: Vec<Arc<Table>>,
    /// By callsite index; wrapping, like the slots.
    retired: Vec<u64>,
}

static TABLES: Mutex<Tables> = Mutex::new(Tables {
    live: Vec::new(),
    retired: Vec::new(),
});

fn tables() -> std::sync::MutexGuard<'static, Tables> {
    TABLES.lock().unwrap_or_else(|e| e.into_inner())
}

/// This thread's tables: the one `Local` points at, and the smaller ones it
/// replaced, which keep their counts (a table is never copied, so a reader
/// never sees a count twice).
#[derive(Default)]
struct Owned {
    tables: Vec<Arc<Table>>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        state::with_local(|local| publish(local, std::ptr::null(), 0));
        let mut all = tables();
        for table in self.tables.drain(..) {
            if all.retired.len() < table.slots.len() {
                all.retired.resize(table.slots.len(), 0);
            }
            for (total, slot) in all.retired.iter_mut().zip(table.slots.iter()) {
                *total = total.wrapping_add(slot.load(Ordering::Relaxed));
            }
            all.live.retain(|live| !Arc::ptr_eq(live, &table));
        }
    }
}

thread_local! {
    static OWNED: RefCell<Owned> = RefCell::new(Owned::default());
}

/// Points this thread's [`Local`] block at a table of `len` slots. The
/// synchronous start's own bound is `len` only once that start has taken
/// its first, slow, path (`tsc` set): a zero sends it there.
fn publish(local: &Local, table: *const AtomicU64, len: usize) {
    local.started.set(table);
    local.started_len.set(len);
    local.started_fast_len.set(local.tsc_bound(len));
}

/// Re-reads this thread's bound for the synchronous start, after its first
/// slow path decided `tsc`.
pub(crate) fn republish(local: &Local) {
    publish(local, local.started.get(), local.started_len.get());
}

/// Adds `by` to this thread's slot `index`, which the caller has checked is
/// below `started_len`.
///
/// # Safety
/// `index < local.started_len.get()`.
#[inline(always)]
pub(crate) unsafe fn bump_unchecked(local: &Local, index: usize, by: u64) {
    // SAFETY: `started` points at `started_len` slots of a table this
    // thread's `Owned` keeps alive; it is republished whenever that changes.
    let slot = unsafe { &*local.started.get().add(index) };
    // Single writer: a load and a store, not a locked read-modify-write.
    slot.store(
        slot.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// Counts a start of `callsite` on this thread.
#[inline(always)]
pub(crate) fn started(local: &Local, callsite: &'static Callsite) {
    let index = callsite.index_if_registered() as usize;
    if index < local.started_len.get() {
        // SAFETY: checked just above.
        unsafe { bump_unchecked(local, index, 1) }
    } else {
        count_slow(callsite, 1);
    }
}

/// Counts an end of `callsite`, which has no histogram to count it, on this
/// thread.
#[inline(always)]
pub(crate) fn ended_unmeasured(local: &Local, callsite: &'static Callsite) {
    let index = callsite.index_if_registered() as usize;
    if index < local.started_len.get() {
        // SAFETY: checked just above.
        unsafe { bump_unchecked(local, index, u64::MAX) }
    } else {
        count_slow(callsite, u64::MAX);
    }
}

/// A callsite's first count on this thread, or the first past the end of
/// its table: registers the callsite and gives the thread a table that holds
/// it. While the thread's locals are torn down the count is lost; a start
/// lost there is never seen running, an end lost there leaves one call
/// counted as running.
#[cold]
#[inline(never)]
pub(crate) fn count_slow(callsite: &'static Callsite, by: u64) {
    let index = callsite.index() as usize;
    let _ = OWNED.try_with(|owned| {
        let local = state::local();
        if index >= local.started_len.get() {
            let len = (callsite::registered() + 1).max(index + 1).max(32);
            let len = len.next_power_of_two();
            let table = Arc::new(Table {
                slots: (0..len).map(|_| AtomicU64::new(0)).collect(),
            });
            tables().live.push(Arc::clone(&table));
            publish(local, table.slots.as_ptr(), len);
            owned.borrow_mut().tables.push(table);
        }
        // SAFETY: the table just published holds `index`.
        unsafe { bump_unchecked(local, index, by) }
    });
}

/// Every registered callsite with its calls running now: started on any
/// thread and not yet ended. Negative sums, which only a torn-down thread's
/// lost start can leave, read as zero.
pub(crate) fn in_flight() -> Vec<(&'static Callsite, u64)> {
    // The ended calls first: see the module's documentation.
    let ended = histogram::counts_by_callsite();
    let mut started = {
        let all = tables();
        let mut sums = all.retired.clone();
        for table in &all.live {
            if sums.len() < table.slots.len() {
                sums.resize(table.slots.len(), 0);
            }
            for (sum, slot) in sums.iter_mut().zip(table.slots.iter()) {
                *sum = sum.wrapping_add(slot.load(Ordering::Relaxed));
            }
        }
        sums
    };
    let callsites = callsite::all();
    started.resize(callsites.len() + 1, 0);
    callsites
        .into_iter()
        .enumerate()
        .map(|(i, callsite)| {
            let index = i + 1;
            let mut running = started[index];
            if callsite.metric.is_some() {
                running = running.wrapping_sub(ended.get(index).copied().unwrap_or(0));
            }
            (callsite, u64::try_from(running as i64).unwrap_or(0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hot::callsite::SpanKind;

    fn callsites(n: usize) -> Vec<&'static Callsite> {
        (0..n)
            .map(|i| {
                let name: &'static str = Box::leak(format!("Running.Test{i}").into_boxed_str());
                let callsite = Callsite::new(name, SpanKind::Internal, "f", "m", "f.rs", 1, None);
                &*Box::leak(Box::new(callsite))
            })
            .collect()
    }

    fn running(of: &[&'static Callsite]) -> Vec<u64> {
        let all = in_flight();
        of.iter()
            .map(|c| {
                all.iter()
                    .find(|(r, _)| std::ptr::eq(*r, *c))
                    .map_or(0, |(_, n)| *n)
            })
            .collect()
    }

    #[test]
    fn starts_past_a_table_grow_it_and_ends_on_other_threads_take_them_off() {
        // More callsites than a first table holds, registered as they are
        // first counted: the thread's table is replaced, its counts kept.
        let sites = callsites(100);
        for (i, site) in sites.iter().enumerate() {
            for _ in 0..=i % 3 {
                started(state::local(), site);
            }
        }
        let expected: Vec<u64> = (0..100).map(|i| (i % 3 + 1) as u64).collect();
        assert_eq!(running(&sites), expected);

        // Ended on another thread, whose slots go below zero; that thread
        // exits and its table is folded into the retired counts.
        let ending = sites.clone();
        std::thread::spawn(move || {
            for (i, site) in ending.iter().enumerate() {
                for _ in 0..=i % 3 {
                    ended_unmeasured(state::local(), site);
                }
            }
        })
        .join()
        .unwrap();
        assert_eq!(running(&sites), vec![0; 100]);

        // One more start: counted again, on the grown table.
        started(state::local(), sites[99]);
        assert_eq!(running(&sites[99..]), [1]);
    }
}
