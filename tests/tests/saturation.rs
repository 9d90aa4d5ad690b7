//! Saturation beside the RED metrics on `/metrics`: the process collector's
//! CPU, memory and file descriptors, and the tokio runtime `init` was called
//! from (`runtime="main"`) with its workers, alive tasks, shared queue and
//! busy time; promtool accepts the text.

use std::time::Duration;

use observe_runtime::{Config, LogOutput, SpanOutput};
use observe_tests::{free_addr, http_get};

/// The value of the one sample named `name` (with its labels, as written).
fn sample(text: &str, name: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no `{name}` in\n{text}"));
    line[name.len()..].trim().parse().unwrap()
}

#[test]
fn process_and_tokio_saturation_are_served() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let metrics = free_addr();
    let (guard, stop) = runtime.block_on(async {
        let guard = observe_runtime::init(
            Config::default()
                .service_name("saturation-test")
                .logs(LogOutput::Off)
                .spans(SpanOutput::None)
                .metrics_addr(metrics),
        )
        .expect("init");
        // Ten tasks that stay alive until told to stop, and work that keeps
        // the workers busy for a while.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        for _ in 0..10 {
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let _ = stopped.wait_for(|s| *s).await;
            });
        }
        let busy: Vec<_> = (0..4)
            .map(|_| {
                tokio::spawn(async {
                    let until = std::time::Instant::now() + Duration::from_millis(100);
                    while std::time::Instant::now() < until {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        for task in busy {
            task.await.unwrap();
        }
        (guard, stop)
    });

    let (status, _, text) = http_get(metrics, "/metrics", &[]);
    assert_eq!(status, 200);
    assert_eq!(sample(&text, "tokio_workers{runtime=\"main\"}"), 2.0);
    assert!(sample(&text, "tokio_alive_tasks{runtime=\"main\"}") >= 10.0);
    assert!(sample(&text, "tokio_global_queue_depth{runtime=\"main\"}") >= 0.0);
    // Four tasks spun 100 ms each on two workers; a worker reports its busy
    // time when it parks, so at least the time of one task is in.
    let busy = sample(&text, "tokio_worker_busy_seconds_total{runtime=\"main\"}");
    assert!((0.1..10.0).contains(&busy), "busy {busy} s");
    assert!(text.contains("# TYPE tokio_worker_busy_seconds_total counter"));
    assert!(sample(&text, "process_resident_memory_bytes") > 1e6);
    assert!(sample(&text, "process_open_fds") > 3.0);
    // Whole seconds (the collector counts them as an integer).
    assert!(sample(&text, "process_cpu_seconds_total") >= 0.0);
    observe_tests::check_with_promtool(&text);

    // Tasks that finish are no longer alive.
    stop.send(true).unwrap();
    runtime.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
    let (_, _, text) = http_get(metrics, "/metrics", &[]);
    assert!(sample(&text, "tokio_alive_tasks{runtime=\"main\"}") < 10.0);
    drop(guard);
}
