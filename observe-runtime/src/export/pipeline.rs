//! The export side's two loops: a drain thread that moves ended spans from
//! the per-thread rings to a bounded pending queue, and an export task on
//! observe's own tokio runtime that hands batches to the exporter.
//!
//! Every ended span is accounted for: exported, or dropped by reason
//! (`queue_full`, `export_failed`, `rejected`, `shutdown_timeout`,
//! `exporter_none`).
//! Shutdown ends with a final count, under the same lock as the export
//! task's, of whatever the deadline left in the rings, in the queue and in
//! flight, so exported + dropped equals the spans ended.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};

use super::exporter::DynExporter;
use crate::core::error::InitError;
use crate::core::health::health;
use crate::hot::ring::{self, Chunk};

enum Command {
    Flush(oneshot::Sender<()>),
    Shutdown(Duration, oneshot::Sender<()>),
}

/// The running export side: the drain thread and the export task's commands.
pub(crate) struct Pipeline {
    commands: mpsc::UnboundedSender<Command>,
    stop_drain: Arc<AtomicBool>,
    drainer: std::thread::JoinHandle<()>,
}

impl Pipeline {
    /// Starts the drain thread, and the export task on `runtime`.
    pub(crate) fn start(
        runtime: &tokio::runtime::Runtime,
        exporter: Option<Box<dyn DynExporter>>,
        settings: ExportSettings,
    ) -> Result<Pipeline, InitError> {
        let (commands, receiver) = mpsc::unbounded_channel();
        let settings = Arc::new(settings);
        let stop_drain = Arc::new(AtomicBool::new(false));
        *in_flight() = InFlight {
            spans: 0,
            bytes: 0,
            finished: false,
        };
        let drainer = {
            let settings = Arc::clone(&settings);
            let stop = Arc::clone(&stop_drain);
            std::thread::Builder::new()
                .name("observe-drain".into())
                .spawn(move || drain_loop(settings, stop))
                .map_err(|e| InitError::Runtime(e.to_string()))?
        };
        ring::set_drainer(drainer.thread().clone());
        ring::set_byte_cap(settings.ring_bytes());
        ring::set_overflow(collect_for_caller);
        ring::set_spare_cap(settings.max_queue);
        pending().settings = Some(Arc::clone(&settings));
        runtime.spawn(export_loop(exporter, receiver, settings));
        Ok(Pipeline {
            commands,
            stop_drain,
            drainer,
        })
    }

    /// Exports every span ended so far and waits for it, at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Flush(reply)).is_err() {
            return false;
        }
        wait_for(done, timeout)
    }

    /// Exports what is left within `timeout`, shuts the exporter down and
    /// stops the drain thread; then counts whatever the deadline left, and
    /// returns that count.
    pub(crate) fn shutdown(self, timeout: Duration) -> u64 {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown(timeout, reply))
            .is_ok()
        {
            wait_for(done, timeout);
        }
        self.stop_drain.store(true, Ordering::Release);
        self.drainer.thread().unpark();
        let _ = self.drainer.join();
        final_count()
    }
}

pub(crate) struct ExportSettings {
    pub(crate) schedule_delay: Duration,
    pub(crate) max_batch: usize,
    pub(crate) max_queue: usize,
    pub(crate) max_queue_bytes: usize,
    pub(crate) timeout: Duration,
}

impl ExportSettings {
    /// The per-thread rings' share of `max_queue_bytes`: a quarter. The
    /// queue and the batch in flight hold the rest, so together everything
    /// waiting for export stays within `max_queue_bytes`.
    fn ring_bytes(&self) -> usize {
        self.max_queue_bytes / 4
    }

    fn queue_bytes(&self) -> usize {
        self.max_queue_bytes - self.ring_bytes()
    }

    /// Below this many queued spans the export task collects the rings
    /// after each batch.
    fn low_queue(&self) -> usize {
        4 * self.max_batch
    }

    /// From this many queued spans on, the drain thread leaves the rings
    /// to their threads and the export task.
    fn deep_queue(&self) -> usize {
        (16 * self.max_batch).min(self.max_queue / 2).max(1)
    }
}

/// Ended spans collected from the rings, waiting for the exporter. Bounded by
/// `max_queue` spans and three quarters of `max_queue_bytes` (the rings hold
/// the other quarter): spans past `max_queue` wait in their rings, and
/// bytes past the cap are dropped and counted.
static PENDING: Mutex<Pending> = Mutex::new(Pending {
    chunks: VecDeque::new(),
    len: 0,
    bytes: 0,
    settings: None,
});

struct Pending {
    /// Oldest first, each of at most `max_batch` records: the drain thread
    /// fills the last, the export task takes the first as its batch.
    chunks: VecDeque<Chunk>,
    /// The records in `chunks`.
    len: usize,
    /// What `chunks` and the batch out for export hold, by
    /// [`crate::hot::span::SpanRecord::bytes`]: the batch stays counted
    /// until its export returns, since a stalled export call keeps it in
    /// memory.
    bytes: usize,
    /// The running pipeline's settings, for a caller that collects the
    /// rings itself ([`collect_for_caller`]); `None` when none runs.
    settings: Option<Arc<ExportSettings>>,
}

impl Pending {
    /// Takes the oldest chunk, of at most `max_batch` records, and its bytes
    /// (still counted in `self.bytes` until [`Pending::release`]).
    fn take(&mut self) -> Chunk {
        let chunk = self.chunks.pop_front().unwrap_or_default();
        self.len -= chunk.records.len();
        chunk
    }

    /// Whether the oldest chunk holds a full batch.
    fn front_is_full(&self, max_batch: usize) -> bool {
        self.chunks
            .front()
            .is_some_and(|chunk| chunk.records.len() >= max_batch)
    }

    /// A batch's export returned: its bytes are free.
    fn release(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    fn clear(&mut self) -> usize {
        let n = self.len;
        self.chunks.clear();
        self.len = 0;
        self.bytes = 0;
        n
    }
}

fn pending() -> std::sync::MutexGuard<'static, Pending> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}
/// Wakes the export task when a full batch is waiting.
static EXPORT_WAKE: Notify = Notify::const_new();

/// The batch the export task has out, and whether shutdown has made its
/// final count. Whoever holds the lock last counts the batch: the task when
/// its export returns first, shutdown's final count otherwise (as
/// `shutdown_timeout`; the task then counts nothing).
struct InFlight {
    spans: u64,
    bytes: usize,
    finished: bool,
}

static IN_FLIGHT: Mutex<InFlight> = Mutex::new(InFlight {
    spans: 0,
    bytes: 0,
    finished: false,
});

fn in_flight() -> std::sync::MutexGuard<'static, InFlight> {
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner())
}

fn count_dropped(reason: &str, spans: u64) {
    if spans > 0 {
        health()
            .spans_dropped
            .with_label_values(&[reason])
            .inc_by(spans);
    }
}

/// While spans keep arriving the rings are drained this often, so a busy
/// thread's ring does not fill between two collections.
const BUSY_INTERVAL: Duration = Duration::from_millis(1);

/// Counts as `shutdown_timeout` every span not exported by the deadline:
/// still in a ring, in the queue, or in a batch whose export has not
/// returned. After this, the export task counts nothing more.
fn final_count() -> u64 {
    let mut flight = in_flight();
    flight.finished = true;
    let mut pending = pending();
    let pending = &mut *pending;
    pending.settings = None;
    ring::set_spare_cap(0);
    pending.len += ring::drain_all(&mut pending.chunks, usize::MAX, usize::MAX).records;
    let left = pending.clear() as u64 + std::mem::take(&mut flight.spans);
    health().queue_depth.set(0);
    count_dropped("shutdown_timeout", left);
    left
}

/// Moves what the rings hold into the queue, within its caps (what does not
/// fit waits in the rings); how many records it moved.
fn collect(settings: &ExportSettings) -> usize {
    let mut pending = pending();
    let room = settings.max_queue.saturating_sub(pending.len);
    let drained = ring::drain_all(&mut pending.chunks, settings.max_batch, room);
    settle(&mut pending, settings.queue_bytes(), drained)
}

/// What a thread whose ring is full at its largest runs before it drops a
/// span (`hot/ring.rs`): the export side is late (on a shared core the
/// drain thread may wait for the scheduler longer than a fast caller takes
/// to fill its ring), so the caller moves what the rings hold into the
/// queue itself, the drain thread's work done on its thread once. It never
/// waits: if the queue or the rings are locked, someone is collecting them
/// already, and it gives up. Whether it moved anything.
fn collect_for_caller() -> bool {
    let mut pending = match PENDING.try_lock() {
        Ok(pending) => pending,
        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return false,
    };
    let Some((max_queue, max_batch, queue_bytes)) = pending
        .settings
        .as_deref()
        .map(|s| (s.max_queue, s.max_batch, s.queue_bytes()))
    else {
        return false;
    };
    let room = max_queue.saturating_sub(pending.len);
    if room == 0 {
        // The queue is full: the export task is behind, not the drain
        // thread.
        return false;
    }
    let Some(drained) = ring::try_drain_all(&mut pending.chunks, max_batch, room) else {
        return false;
    };
    let moved = settle(&mut pending, queue_bytes, drained);
    if pending.len >= max_batch {
        EXPORT_WAKE.notify_one();
    }
    moved > 0
}

/// Takes in what `drained` moved into the queue: counted, and the newest
/// let go past the queue's `queue_bytes`. How many records it kept.
fn settle(pending: &mut Pending, queue_bytes: usize, drained: ring::Drained) -> usize {
    let moved = drained.records;
    pending.len += moved;
    pending.bytes += drained.bytes;
    let mut over = 0;
    while pending.bytes > queue_bytes && over < moved {
        let Some(newest) = pending.chunks.back_mut().and_then(Chunk::pop) else {
            break;
        };
        pending.bytes -= newest.bytes();
        pending.len -= 1;
        over += 1;
        if pending
            .chunks
            .back()
            .is_some_and(|chunk| chunk.records.is_empty())
        {
            pending.chunks.pop_back();
        }
    }
    count_dropped("queue_full", over as u64);
    moved - over
}

/// Moves ended spans from the per-thread rings to the pending queue: often
/// while they keep coming, at once when a ring reaches half, and idly
/// otherwise. A thread of its own, so neither a slow export call nor the CPU
/// work of encoding a batch leaves the rings to overflow.
fn drain_loop(settings: Arc<ExportSettings>, stop: Arc<AtomicBool>) {
    let idle = settings.schedule_delay.min(Duration::from_millis(100));
    let mut wait = idle;
    let mut deep = false;
    while !stop.load(Ordering::Acquire) {
        if deep {
            // The rings are left to fill: no early wake-up for a half-full
            // one.
            std::thread::park_timeout(BUSY_INTERVAL);
        } else {
            ring::park_drainer(wait);
        }
        // A deep queue keeps the export task busy for a while: moving more
        // spans into it would only take the core from encoding (the two
        // threads often share one). A thread whose ring fills meanwhile
        // moves the rings itself, or sets its ring aside.
        deep = pending().len >= settings.deep_queue();
        let moved = if deep {
            ring::count_drops();
            0
        } else {
            collect(&settings)
        };
        wait = if moved > 0 { BUSY_INTERVAL } else { idle };
        let pending = pending().len;
        // The gauge is written here, by the export side, so the metrics layer
        // reads it like any other counter and never calls into export.
        health()
            .queue_depth
            .set((ring::ring_depth() + pending) as i64);
        if pending >= settings.max_batch {
            EXPORT_WAKE.notify_one();
        }
    }
}

async fn export_loop(
    exporter: Option<Box<dyn DynExporter>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    settings: Arc<ExportSettings>,
) {
    loop {
        let command = tokio::select! {
            command = commands.recv() => Some(command.unwrap_or_else(|| {
                let (reply, _) = oneshot::channel();
                Command::Shutdown(Duration::ZERO, reply)
            })),
            () = EXPORT_WAKE.notified() => None,
            () = tokio::time::sleep(settings.schedule_delay) => None,
        };
        let deadline = match &command {
            Some(Command::Shutdown(timeout, _)) => Some(Instant::now() + *timeout),
            _ => None,
        };
        if command.is_some() {
            // Flush and shutdown cover every span ended before they were asked.
            collect(&settings);
        }
        export_pending(exporter.as_deref(), &settings, deadline).await;
        match command {
            None => {}
            Some(Command::Flush(reply)) => {
                let _ = reply.send(());
            }
            Some(Command::Shutdown(timeout, reply)) => {
                if let Some(exporter) = &exporter {
                    let _ = exporter.shutdown(timeout);
                }
                let _ = reply.send(());
                return;
            }
        }
    }
}

async fn export_pending(
    exporter: Option<&dyn DynExporter>,
    settings: &ExportSettings,
    deadline: Option<Instant>,
) {
    let health = health();
    // What is queued now is exported whole; what arrives meanwhile, only in
    // full batches (the rest waits for the next wake-up, flush or tick).
    let mut owed = None;
    loop {
        let Chunk { records, .. } = {
            let mut flight = in_flight();
            if flight.finished {
                return;
            }
            let mut pending = pending();
            let past_deadline = deadline.is_some_and(|d| Instant::now() >= d);
            if past_deadline {
                // Shutdown's time is up: what is left is not sent.
                count_dropped("shutdown_timeout", pending.clear() as u64);
                return;
            }
            let owed = owed.get_or_insert(pending.len);
            if *owed == 0 && !pending.front_is_full(settings.max_batch) {
                return;
            }
            let batch = pending.take();
            *owed = owed.saturating_sub(batch.records.len());
            if exporter.is_some() {
                flight.spans = batch.records.len() as u64;
                flight.bytes = batch.bytes;
            } else {
                // `OTEL_TRACES_EXPORTER=none`: recorded, and sent nowhere.
                count_dropped("exporter_none", batch.records.len() as u64);
                pending.release(batch.bytes);
            }
            batch
        };
        if records.is_empty() {
            return;
        }
        // The debug pages' store sees every batch, whatever the exporter.
        crate::store::record_spans(&records);
        let Some(exporter) = exporter else {
            continue;
        };
        let timeout = match deadline {
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(settings.timeout),
            None => settings.timeout,
        };
        let result = tokio::time::timeout(timeout, exporter.export(records)).await;
        let n = {
            let mut flight = in_flight();
            if flight.finished {
                // Counted by shutdown's final count already.
                return;
            }
            pending().release(std::mem::take(&mut flight.bytes));
            std::mem::take(&mut flight.spans)
        };
        match result {
            Ok(Ok(rejected)) => {
                // An OTLP partial success: the collector refused some.
                let rejected = rejected.min(n);
                health.spans_exported.inc_by(n - rejected);
                count_dropped("rejected", rejected);
            }
            Ok(Err(_)) | Err(_) => {
                health.export_errors.inc();
                count_dropped("export_failed", n);
            }
        }
        // While this task is busy it moves the rings' spans itself once the
        // queue runs low: on a core it shares with the drain thread, the
        // rings would otherwise wait for the scheduler to switch threads,
        // and a fast caller fills its ring in a third of a millisecond.
        // Not before: with a backlog, its time goes to encoding, which is
        // what shortens it.
        if pending().len < settings.low_queue() {
            collect(settings);
        }
        // An exporter that never waits (the console's) would otherwise keep
        // the runtime's worker to itself while batches keep coming.
        tokio::task::yield_now().await;
    }
}

fn wait_for(done: oneshot::Receiver<()>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut done = done;
    loop {
        match done.try_recv() {
            Ok(()) => return true,
            Err(oneshot::error::TryRecvError::Closed) => return false,
            Err(oneshot::error::TryRecvError::Empty) => {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
