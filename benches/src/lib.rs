//! What observe's benchmarks share: the functions under test, exporters that
//! do nothing, count or never finish, a harness that runs one function on
//! several threads at once, and readers for `/proc` and observe's metrics.
//!
//! The benches themselves are in `benches/`; `BENCHMARKS.md` at the workspace
//! root has the results and the commands.
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

use std::fmt;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::Duration;

use observe_runtime::{observe, Config, LogOutput, Sampler};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// The error of every function under test; never returned in the benches.
#[derive(Debug)]
pub struct BenchError;

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bench error")
    }
}

impl std::error::Error for BenchError {}

/// The trivial body every variant wraps: a branch and a `Result`.
#[inline(always)]
pub fn body(x: u64) -> Result<u64, BenchError> {
    if x == u64::MAX {
        Err(BenchError)
    } else {
        Ok(x ^ 0x5bd1_e995)
    }
}

/// (1) the bare function.
#[inline(never)]
pub fn bare(x: u64) -> Result<u64, BenchError> {
    body(x)
}

/// The bare function as an `async fn`: the floor of `block_on` for (5).
#[inline(never)]
pub async fn bare_async(x: u64) -> Result<u64, BenchError> {
    body(x)
}

/// (2), (3), (4), (10): the same body under `#[observe]`.
#[observe(span = "Bench.Call", metric = "latency")]
#[inline(never)]
pub fn observed(x: u64) -> Result<u64, BenchError> {
    body(x)
}

/// A second observed function with its own callsite, for telling shared
/// callsite data from shared per-call state in the two-thread runs.
#[observe(span = "Bench.Other", metric = "latency")]
#[inline(never)]
pub fn observed_other(x: u64) -> Result<u64, BenchError> {
    body(x)
}

/// (5): the same body under `#[observe]` on an `async fn`.
#[observe(span = "Bench.CallAsync", metric = "latency")]
#[inline(never)]
pub async fn observed_async(x: u64) -> Result<u64, BenchError> {
    body(x)
}

/// The floor of the per-thread design on this machine: what ARCHITECTURE's
/// "plain per-thread prototype" does per call, and nothing else. A
/// thread-local current span swapped in and out, ids from a per-thread
/// wyrand, a root sampling decision, two TSC reads, and a per-thread
/// histogram (bucket search, count, sum). No callsite registry, no span
/// record, no exemplar: what no implementation of the same signals can go
/// below, for telling observe's own overhead from the machine's.
///
/// With `SAMPLED`, every call is a sampled root whose 64-byte record is
/// written into a per-thread ring of cache-line slots that nothing drains
/// (so the line never leaves this core): the floor of (4).
#[cfg(target_arch = "x86_64")]
#[inline(never)]
pub fn prototype<const SAMPLED: bool>(x: u64) -> Result<u64, BenchError> {
    use std::cell::Cell;

    #[repr(align(64))]
    struct Slot(Cell<[u64; 8]>);
    struct Proto {
        current: Cell<(u128, u64, bool)>,
        rng: Cell<u64>,
        counts: [Cell<u64>; 16],
        sum: Cell<u64>,
        tail: Cell<usize>,
        ring: [Slot; 256],
    }
    thread_local! {
        static PROTO: Proto = const {
            Proto {
                current: Cell::new((0, 0, false)),
                rng: Cell::new(0x2545_f491_4f6c_dd1d),
                counts: [const { Cell::new(0) }; 16],
                sum: Cell::new(0),
                tail: Cell::new(0),
                ring: [const { Slot(Cell::new([0; 8])) }; 256],
            }
        };
    }
    // 0.5 ms .. 30 s in ticks of a ~2 GHz TSC, as observe's default buckets.
    const BOUNDS: [u64; 15] = [
        1 << 20,
        1 << 21,
        1 << 22,
        1 << 23,
        1 << 24,
        1 << 25,
        1 << 26,
        1 << 27,
        1 << 28,
        1 << 29,
        1 << 30,
        1 << 31,
        1 << 32,
        1 << 33,
        1 << 35,
    ];
    fn step(s: u64) -> (u64, u64) {
        let x = s.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        (x, ((t >> 64) as u64) ^ (t as u64))
    }
    let p: *const Proto = PROTO.with(|p| p as *const Proto);
    // SAFETY: a const-initialised thread-local without a destructor lives
    // as long as the thread; the reference does not leave this call.
    let p = unsafe { &*p };
    let parent = p.current.get();
    let (s, high) = step(p.rng.get());
    let (s, low) = step(s);
    let (s, span) = step(s);
    p.rng.set(s);
    let (trace, sampled) = if parent.0 != 0 {
        (parent.0, parent.2)
    } else {
        let trace = (u128::from(high) << 64) | u128::from(low);
        (trace, black_box(SAMPLED))
    };
    // SAFETY: `rdtsc` exists on every x86_64 CPU and has no side effects.
    let start = unsafe { core::arch::x86_64::_rdtsc() };
    p.current.set((trace, span, sampled));
    let result = body(x);
    // SAFETY: as above.
    let end = unsafe { core::arch::x86_64::_rdtsc() };
    p.current.set(parent);
    let ticks = end.wrapping_sub(start);
    let slot = BOUNDS
        .iter()
        .position(|&bound| ticks <= bound)
        .unwrap_or(BOUNDS.len());
    p.counts[slot].set(p.counts[slot].get() + 1);
    p.sum.set(p.sum.get() + ticks);
    if sampled {
        let tail = p.tail.get();
        p.ring[tail % 256].0.set([
            0x1000,
            trace as u64,
            (trace >> 64) as u64,
            span,
            parent.1,
            start,
            end,
            0,
        ]);
        p.tail.set(tail.wrapping_add(1));
    }
    result
}

/// An exporter that accepts every batch and does nothing with it.
#[derive(Debug, Default)]
pub struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(black_box(batch));
        Ok(())
    }
}

/// An exporter that counts the spans it is handed and does nothing else.
#[derive(Debug, Default, Clone)]
pub struct CountingExporter {
    exported: Arc<AtomicU64>,
}

impl CountingExporter {
    /// Spans exported so far.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Acquire)
    }
}

impl SpanExporter for CountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.exported
            .fetch_add(batch.len() as u64, Ordering::Release);
        Ok(())
    }
}

/// An exporter whose export never completes: a collector that accepted the
/// connection and stopped reading.
#[derive(Debug, Default)]
pub struct StalledExporter;

impl SpanExporter for StalledExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        std::future::pending().await
    }
}

/// observe's configuration for the benches: no environment, no log
/// subscriber (the `tracing` peers install their own), `exporter` for spans.
///
/// With `OBSERVE_BENCH_DEBUG_PAGES=1`, `/metrics` is served on a loopback
/// port with the debug pages on, so the export task feeds the trace store
/// as in the embedded default (BENCHMARKS.md, "The debug pages").
pub fn observe_config<E: SpanExporter + 'static>(sampler: Sampler, exporter: E) -> Config {
    let config = Config::default()
        .service_name("observe-bench")
        .logs(LogOutput::Off)
        .sampler(sampler)
        .exporter(exporter);
    if std::env::var("OBSERVE_BENCH_DEBUG_PAGES").is_ok_and(|v| v == "1") {
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.metrics_addr(loopback).debug_pages(true)
    } else {
        config
    }
}

/// `true` under `cargo bench` (which passes `--bench`); `false` when
/// `cargo test --all-targets` runs a bench binary as a smoke test.
pub fn is_bench_run() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// What a bench measures with.
///
/// `Wall` is what a caller waits. `ThreadCpu` is the CPU time of the calling
/// thread: on a machine shared with other work (this project's 2-core
/// machines, where others compile) it leaves out the time slices the thread
/// did not get, which wall time counts. Work done on observe's or a peer's
/// background threads is in neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// `CLOCK_MONOTONIC`.
    Wall,
    /// `CLOCK_THREAD_CPUTIME_ID`.
    ThreadCpu,
}

impl Clock {
    /// `ThreadCpu` when `OBSERVE_BENCH_CLOCK=cpu`, `Wall` otherwise.
    pub fn from_env() -> Clock {
        match std::env::var("OBSERVE_BENCH_CLOCK").as_deref() {
            Ok("cpu") => Clock::ThreadCpu,
            _ => Clock::Wall,
        }
    }

    /// The clock's reading; only differences mean anything.
    pub fn read(self) -> Duration {
        let id = match self {
            Clock::Wall => libc::CLOCK_MONOTONIC,
            Clock::ThreadCpu => libc::CLOCK_THREAD_CPUTIME_ID,
        };
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable timespec.
        unsafe { libc::clock_gettime(id, &mut now) };
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }

    /// Time since an earlier [`Clock::read`] of the same clock.
    pub fn since(self, start: Duration) -> Duration {
        self.read().saturating_sub(start)
    }
}

type Job = (u64, Arc<Barrier>, mpsc::Sender<Duration>);

/// Long-lived threads that run one function together, so that a thread's
/// per-thread state (observe's rings and histogram shards) is warm, as in a
/// server, rather than created for every measurement.
pub struct Workers {
    jobs: Vec<mpsc::Sender<Job>>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// `threads` workers, each calling `f` in a loop when asked and timing
    /// itself with `clock`.
    pub fn new(threads: usize, clock: Clock, f: fn(u64) -> Result<u64, BenchError>) -> Workers {
        let mut jobs = Vec::new();
        let mut handles = Vec::new();
        for i in 0..threads {
            let (tx, rx) = mpsc::channel::<Job>();
            jobs.push(tx);
            let handle = std::thread::Builder::new()
                .name(format!("bench-worker-{i}"))
                .spawn(move || {
                    for (iters, start, done) in rx {
                        start.wait();
                        let began = clock.read();
                        for n in 0..iters {
                            let _ = black_box(f(black_box(n)));
                        }
                        let _ = done.send(clock.since(began));
                    }
                })
                .expect("spawn a bench worker");
            handles.push(handle);
        }
        Workers { jobs, handles }
    }

    /// Every worker makes `iters` calls at the same time; returns the slowest
    /// worker's time, so `time / iters` is the cost per call per thread.
    pub fn run(&self, iters: u64) -> Duration {
        let start = Arc::new(Barrier::new(self.jobs.len()));
        let (done, times) = mpsc::channel();
        for job in &self.jobs {
            job.send((iters, Arc::clone(&start), done.clone()))
                .expect("bench worker is alive");
        }
        drop(done);
        times.iter().max().unwrap_or_default()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.jobs.clear();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
pub fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) spent so far by this process's threads whose
/// name starts with `prefix` (observe's are `observe` and `observe-drain`).
pub fn threads_cpu_time(prefix: &str) -> Duration {
    // SAFETY: `sysconf` only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut ticks = 0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.trim_end().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let Some(after_name) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        ticks += field(14).unwrap_or(0) + field(15).unwrap_or(0);
    }
    Duration::from_nanos(ticks * 1_000_000_000 / ticks_per_second)
}

/// Restricts the calling thread (and the threads it spawns from now on) to
/// one CPU. Returns `false` where that is not possible.
pub fn pin_current_thread(cpu: usize) -> bool {
    // SAFETY: `cpu_set_t` is plain data, zeroed is the empty set, and the
    // call only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// The sum of every sample of `family` in Prometheus text whose labels
/// contain `labels` (e.g. `reason="queue_full"`, or `""` for all).
pub fn metric_sum(text: &str, family: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let name = series.split('{').next()?;
            (name == family && series.contains(labels)).then(|| value.parse::<f64>().ok())?
        })
        .sum::<f64>()
        + 0.0 // an empty sum is -0.0, which prints as "-0"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_matching_series() {
        let text = "# HELP x y\n\
                    observe_spans_dropped_total{reason=\"queue_full\"} 5\n\
                    observe_spans_dropped_total{reason=\"export_failed\"} 2\n\
                    observe_spans_exported_total 7\n";
        assert_eq!(metric_sum(text, "observe_spans_dropped_total", ""), 7.0);
        assert_eq!(
            metric_sum(text, "observe_spans_dropped_total", "reason=\"queue_full\""),
            5.0
        );
        assert_eq!(metric_sum(text, "observe_spans_exported_total", ""), 7.0);
    }

    #[test]
    fn proc_readers_see_this_process() {
        assert!(proc_status_kib("VmRSS") > 0);
        let _ = threads_cpu_time("observe");
    }

    #[test]
    fn clocks_advance() {
        for clock in [Clock::Wall, Clock::ThreadCpu] {
            let start = clock.read();
            let mut x = 0_u64;
            for i in 0..1_000_000 {
                x = black_box(x.wrapping_add(i));
            }
            assert!(clock.since(start) > Duration::ZERO, "{clock:?}");
        }
    }

    #[test]
    fn workers_run_together() {
        let workers = Workers::new(2, Clock::ThreadCpu, bare);
        assert!(workers.run(1_000) > Duration::ZERO);
    }
}

/// observe's real OTLP export up to the bytes: spans are encoded into
/// `ExportTraceServiceRequest`s as for a collector, and each request is
/// counted (spans, bytes) instead of sent.
#[derive(Debug, Default, Clone)]
pub struct EncodedCounter {
    spans: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl EncodedCounter {
    /// Spans encoded and handed over so far.
    pub fn exported(&self) -> u64 {
        self.spans.load(Ordering::Acquire)
    }

    /// Request bytes encoded so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    /// observe's bench configuration with spans encoded into this counter.
    pub fn config(&self, sampler: Sampler) -> Config {
        let (spans, bytes) = (Arc::clone(&self.spans), Arc::clone(&self.bytes));
        Config::default()
            .service_name("observe-bench")
            .logs(LogOutput::Off)
            .sampler(sampler)
            .otlp_request_sink(move |request, count| {
                bytes.fetch_add(black_box(request).len() as u64, Ordering::Relaxed);
                spans.fetch_add(count, Ordering::Release);
            })
    }
}
