//! Trace-aware log sampling: under a 1 % trace sampler a hot line keeps
//! every event of the sampled traces and each WARN, and the summaries and
//! `observe_log_events_suppressed_total` count the rest; a per-callsite
//! token bucket stops a hot line outside any sampled trace from flooding.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use observe_runtime::{observe, Config, LogOutput, LogSampling, Sampler};
use observe_tests::Capture;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer as _;

/// One subscriber with observe's layer writing to a capture; the tests
/// initialise observe in turn.
fn setup() -> (std::sync::MutexGuard<'static, ()>, Capture) {
    static SERIAL: Mutex<()> = Mutex::new(());
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let capture = CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let output = LogOutput::Writer(Arc::new(Mutex::new(capture.clone())));
        let subscriber = tracing_subscriber::registry().with(
            observe_runtime::logs::layer_with(&output)
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        );
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        capture
    });
    (serial, capture.clone())
}

const SUMMARY: &str = "log events suppressed by sampling";

fn lines_since(capture: &Capture, start: usize) -> Vec<serde_json::Value> {
    capture.json_lines().split_off(start)
}

/// The summaries' counts by callsite.
fn summaries(lines: &[serde_json::Value]) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for line in lines.iter().filter(|l| l["message"] == SUMMARY) {
        *out.entry(line["callsite"].as_str().unwrap().to_owned())
            .or_default() += line["suppressed"].as_u64().unwrap();
    }
    out
}

/// `observe_log_events_suppressed_total` for the callsite at `file:line`.
fn suppressed_counter(callsite: &str) -> u64 {
    let text = observe_runtime::metrics::render();
    let series = format!("observe_log_events_suppressed_total{{callsite=\"{callsite}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}

#[observe(span = "Sampling.Hot")]
fn hot(i: u64) {
    tracing::info!(i, "hot");
    if i % 1000 == 0 {
        tracing::warn!(i, "every thousandth");
    }
}

#[test]
fn a_sampled_trace_keeps_every_line_and_the_rest_is_counted() {
    let (_serial, capture) = setup();
    let start = capture.json_lines().len();
    let exporter = InMemorySpanExporter::default();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("log-sampling")
            .logs(LogOutput::Off)
            .exporter(exporter.clone())
            .sampler(Sampler::TraceIdRatio(0.01))
            .log_sampling(
                LogSampling::new()
                    .ratio(0.0)
                    .interval(Duration::from_millis(200)),
            ),
    )
    .expect("init");
    const CALLS: u64 = 100_000;
    for i in 0..CALLS {
        hot(i);
    }
    // Past the interval, the callsite's next unsampled event writes the
    // summary of what is left.
    std::thread::sleep(Duration::from_millis(250));
    let mut calls = CALLS;
    let summaries_before = lines_since(&capture, start)
        .iter()
        .filter(|l| l["message"] == SUMMARY)
        .count();
    while lines_since(&capture, start)
        .iter()
        .filter(|l| l["message"] == SUMMARY)
        .count()
        == summaries_before
    {
        assert!(calls < CALLS + 1000, "no summary after the interval");
        // Never a multiple of 1000: no WARN.
        hot(calls * 1000 + 1);
        calls += 1;
    }
    let spans = observe_tests::flushed(&exporter);
    drop(guard);

    let sampled: HashSet<String> = spans
        .iter()
        .filter(|s| s.name == "Sampling.Hot")
        .map(|s| s.span_context.trace_id().to_string())
        .collect();
    assert!(
        !sampled.is_empty() && sampled.len() < 5_000,
        "{}",
        sampled.len()
    );
    let lines = lines_since(&capture, start);
    let hot_lines: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["message"] == "hot").collect();
    let kept: HashSet<String> = hot_lines
        .iter()
        .map(|l| l["trace_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kept.len(), hot_lines.len(), "one line per trace");
    assert_eq!(kept, sampled, "exactly the lines of the sampled traces");

    let warns = lines
        .iter()
        .filter(|l| l["message"] == "every thousandth")
        .count();
    assert_eq!(warns as u64, CALLS / 1000, "every WARN is kept");

    let (callsite, suppressed) = only_summary(&lines);
    assert_eq!(suppressed, calls - hot_lines.len() as u64);
    assert_eq!(suppressed_counter(&callsite), suppressed);
}

#[observe(span = "Sampling.Flood")]
fn flood(i: u64) {
    tracing::info!(i, "flood");
}

#[test]
fn a_hot_line_outside_sampled_traces_is_held_to_its_burst() {
    let (_serial, capture) = setup();
    let start = capture.json_lines().len();
    let interval = Duration::from_secs(1);
    let guard = observe_runtime::init(
        Config::default()
            .service_name("log-sampling-burst")
            .logs(LogOutput::Off)
            .spans(observe_runtime::SpanOutput::None)
            .sampler(Sampler::AlwaysOff)
            .log_sampling(LogSampling::new().ratio(1.0).burst(5).interval(interval)),
    )
    .expect("init");
    for i in 0..1000 {
        flood(i);
    }
    let kept: Vec<u64> = lines_since(&capture, start)
        .iter()
        .filter(|l| l["message"] == "flood")
        .map(|l| l["i"].as_u64().unwrap())
        .collect();
    assert_eq!(&kept[..5], &[0, 1, 2, 3, 4], "the burst is kept");
    // One token per 200 ms comes back: a slow machine may keep a few more.
    assert!(kept.len() < 20, "held to the burst: {}", kept.len());

    std::thread::sleep(interval + Duration::from_millis(50));
    flood(1000);
    drop(guard);
    let lines = lines_since(&capture, start);
    let summaries = summaries(&lines);
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let (callsite, suppressed) = summaries.into_iter().next().unwrap();
    assert_eq!(suppressed, 1000 - kept.len() as u64);
    assert_eq!(suppressed_counter(&callsite), suppressed);
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "flood" && l["i"] == 1000),
        "the bucket refilled"
    );
}

/// The one summary line among `lines`, of a callsite in this file: its
/// callsite and how many events it says were suppressed.
fn only_summary(lines: &[serde_json::Value]) -> (String, u64) {
    let summaries = summaries(lines);
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let (callsite, suppressed) = summaries.into_iter().next().unwrap();
    assert!(
        callsite.starts_with("log_sampling tests/tests/log_sampling.rs:"),
        "{callsite}"
    );
    (callsite, suppressed)
}

/// Runs `events` under observe with no trace sampled and log sampling
/// keeping nothing below WARN, waits past the summary interval, logs one
/// WARN from a callsite of its own (`elsewhere`), and returns the lines
/// written meanwhile.
fn suppressed_then_elsewhere(service: &str, events: impl FnOnce()) -> Vec<serde_json::Value> {
    let (_serial, capture) = setup();
    let start = capture.json_lines().len();
    let interval = Duration::from_millis(200);
    let guard = observe_runtime::init(
        Config::default()
            .service_name(service)
            .logs(LogOutput::Off)
            .spans(observe_runtime::SpanOutput::None)
            .sampler(Sampler::AlwaysOff)
            .log_sampling(LogSampling::new().ratio(0.0).interval(interval)),
    )
    .expect("init");
    events();
    std::thread::sleep(interval + Duration::from_millis(50));
    tracing::warn!("elsewhere");
    let lines = lines_since(&capture, start);
    drop(guard);
    lines
}

/// The lines are the one summary, of `suppressed` events, then the WARN
/// that wrote it; the counter agrees.
fn assert_one_summary_then_elsewhere(lines: &[serde_json::Value], suppressed: u64) {
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, [SUMMARY, "elsewhere"], "the summary comes first");
    let (callsite, counted) = only_summary(lines);
    assert_eq!(counted, suppressed);
    assert_eq!(suppressed_counter(&callsite), suppressed);
}

#[observe(span = "Sampling.Quiet")]
fn quiet(i: u64) {
    tracing::info!(i, "quiet");
}

#[test]
fn a_summary_is_written_at_the_next_event_of_any_callsite() {
    // `quiet` never logs again: the summary comes at another callsite.
    let lines = suppressed_then_elsewhere("log-sampling-any", || {
        for i in 0..500 {
            quiet(i);
        }
    });

    assert!(
        lines.iter().all(|l| l["message"] != "quiet"),
        "a ratio of 0 keeps nothing"
    );
    assert_one_summary_then_elsewhere(&lines, 500);
}

/// Forty callsites (on one line), the `n`th logging `n` times.
fn forty_callsites(round: u64) {
    macro_rules! callsites {
        ($($n:literal)*) => {$(
            for _ in 0..$n {
                tracing::info!(round, callsite = $n, "many");
            }
        )*};
    }
    callsites!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20
        21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40);
}

#[test]
fn many_callsites_are_counted_apart() {
    let lines = suppressed_then_elsewhere("log-sampling-many", || {
        for round in 0..3 {
            forty_callsites(round);
        }
    });

    // The callsites share a line, so a name: one summary line each.
    let mut counts: Vec<u64> = lines
        .iter()
        .filter(|l| l["message"] == SUMMARY)
        .map(|l| l["suppressed"].as_u64().unwrap())
        .collect();
    counts.sort_unstable();
    let expected: Vec<u64> = (1..=40).map(|n| 3 * n).collect();
    assert_eq!(counts, expected, "callsite n logged 3 n times");
    let summaries = summaries(&lines);
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let (callsite, suppressed) = summaries.into_iter().next().unwrap();
    assert_eq!(suppressed, expected.iter().sum::<u64>());
    assert_eq!(suppressed_counter(&callsite), suppressed);
}

#[observe(span = "Sampling.Gone")]
fn gone(i: u64) {
    tracing::info!(i, "gone");
}

#[test]
fn what_a_thread_suppressed_before_it_exits_is_summarised_by_the_next_to_log() {
    // The thread ends within the interval: nothing of its own writes the
    // summary, and nothing of it would count the events.
    let lines = suppressed_then_elsewhere("log-sampling-exit", || {
        std::thread::spawn(|| {
            for i in 0..300 {
                gone(i);
            }
        })
        .join()
        .expect("the thread ends");
    });

    assert_one_summary_then_elsewhere(&lines, 300);
}
