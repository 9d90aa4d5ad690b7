//! A stderr that is never read holds up nothing: spans keep being written
//! to the embedded console output until its pipe is full, then the lines
//! are dropped and counted, while `/metrics` keeps answering and observed
//! calls keep returning.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[test]
fn an_unread_stderr_blocks_neither_scrapes_nor_calls() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_console_service"))
        .stdout(Stdio::piped())
        // Piped and never read: its 64 KiB fill within the first spans.
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test service starts");
    let (lines, reports) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| -> String {
        reports
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the service stopped reporting {what}"))
    };
    let addr: SocketAddr = next("its address")
        .strip_prefix("metrics ")
        .expect("`metrics <addr>` first")
        .parse()
        .unwrap();
    let calls = |line: String| -> u64 {
        line.strip_prefix("calls ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected report {line:?}"))
    };

    // Far more span lines than the pipe and the writer's buffer hold.
    let mut done = 0;
    while done < 40_000 {
        done = calls(next("calls"));
    }
    let mut dropped = 0;
    for _ in 0..10 {
        let started = Instant::now();
        let (status, _, body) = observe_tests::http_get(addr, "/metrics", &[]);
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a scrape took {:?}",
            started.elapsed()
        );
        dropped = counter(&body, "observe_console_lines_dropped_total");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(dropped > 0, "lines were dropped and counted");
    // Calls still return: the count keeps climbing.
    let later = calls(next("more calls"));
    assert!(later > done, "{later} after {done}");
    let _ = child.kill();
    let _ = child.wait();
}
