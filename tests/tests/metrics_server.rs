//! The built-in `/metrics` server cannot be starved by its clients: 500
//! connections that never send a request, against a process allowed 128 file
//! descriptors, leave scrapes answering within a second and the process able
//! to open files. Idle connections are closed to make room, silent ones time
//! out, and both are counted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The connections the server keeps open at most (`edges/serve.rs`).
const MAX_CONNECTIONS: usize = 64;

fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn rejected(text: &str, reason: &str) -> u64 {
    counter(
        text,
        &format!("observe_metrics_connections_rejected_total{{reason=\"{reason}\"}}"),
    )
}

/// Whether the peer has closed `stream`: a read returns end of file.
fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0_u8; 1];
    matches!(stream.read(&mut byte), Ok(0))
        || matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

#[test]
fn silent_connections_starve_neither_scrapes_nor_the_process() {
    // `prlimit` (util-linux) execs the service with the lowered limit, so
    // the child's pid is the service's.
    let mut child = Command::new("prlimit")
        .arg("--nofile=128:128")
        .arg(env!("CARGO_BIN_EXE_metrics_service"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) runs the test service");
    let mut stdin = child.stdin.take().unwrap();
    let (lines, reports) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        reports
            .recv_timeout(Duration::from_secs(20))
            .expect("the service answers")
    };
    let addr: SocketAddr = next()
        .strip_prefix("metrics ")
        .expect("`metrics <addr>` first")
        .parse()
        .unwrap();

    // 500 connections that never send a byte, far past both the server's
    // cap and the process's file limit.
    let mut silent: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect"))
        .collect();

    // All were accepted and all but the cap's worth closed again to make
    // room (a scrape takes a slot too, so one more may be closed).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = String::new();
    while Instant::now() < deadline {
        body = observe_tests::http_get(addr, "/metrics", &[]).2;
        if rejected(&body, "idle_evicted") >= (500 - MAX_CONNECTIONS) as u64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let evicted = rejected(&body, "idle_evicted");
    assert!(
        evicted >= (500 - MAX_CONNECTIONS) as u64,
        "idle connections closed to make room: {evicted}\n{body}"
    );
    assert_eq!(rejected(&body, "limit"), 0, "no connection was busy");
    assert!(
        open_fds(child.id()) < 128 - 20,
        "the server holds at most its cap: {} descriptors open",
        open_fds(child.id())
    );

    // A normal scrape, past the 500, within a second.
    for _ in 0..5 {
        let started = Instant::now();
        let (status, _, body) = observe_tests::http_get(addr, "/metrics", &[]);
        assert_eq!(status, 200);
        assert!(body.contains("observe_metrics_connections_rejected_total"));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a scrape took {:?}",
            started.elapsed()
        );
    }

    // The application can still open files.
    writeln!(stdin, "files").unwrap();
    assert_eq!(next(), "files 10 of 10");

    // The oldest were closed by the server.
    assert!(closed_by_server(&mut silent[0], Duration::from_secs(2)));
    // The newest stay open until the header-read timeout (10 s) closes them.
    let newest = silent.last_mut().unwrap();
    assert!(
        closed_by_server(newest, Duration::from_secs(20)),
        "a connection that sends no request is closed by the header-read timeout"
    );
    let body = observe_tests::http_get(addr, "/metrics", &[]).2;
    assert!(
        rejected(&body, "header_timeout") > 0,
        "timeouts are counted\n{body}"
    );
    assert_eq!(rejected(&body, "accept_error"), 0);

    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
}

/// Out of file descriptors before the cap is reached: `accept` fails, the
/// server gives back the descriptors of its idle connections instead of
/// spinning, and a scrape still gets in.
#[test]
fn out_of_descriptors_the_server_frees_its_idle_connections() {
    let mut child = Command::new("prlimit")
        .arg("--nofile=48:48")
        .arg(env!("CARGO_BIN_EXE_metrics_service"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) runs the test service");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("metrics ")
        .expect("`metrics <addr>` first")
        .parse()
        .unwrap();
    let _silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        let started = Instant::now();
        let (status, _, body) = observe_tests::http_get(addr, "/metrics", &[]);
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a scrape took {:?}",
            started.elapsed()
        );
        assert!(rejected(&body, "accept_error") > 0, "{body}");
        assert!(rejected(&body, "idle_evicted") > 0, "{body}");
    }
    let _ = child.kill();
    let _ = child.wait();
}
