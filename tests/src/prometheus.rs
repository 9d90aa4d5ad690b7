//! A real Prometheus server (Debian's `prometheus`) run for one test:
//! scraping one target every second, evaluating rule files every second,
//! killed and its files removed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_addr, http_get, require_tool};

/// A Prometheus server and its directory.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    /// Scrapes `target` every second, with exemplar storage on.
    pub fn scraping(target: SocketAddr) -> Prometheus {
        Prometheus::start(target, None)
    }

    /// Scrapes `target` every second and evaluates the rule file `rules`
    /// (its text) every second.
    pub fn with_rules(target: SocketAddr, rules: &str) -> Prometheus {
        Prometheus::start(target, Some(rules))
    }

    fn start(target: SocketAddr, rules: Option<&str>) -> Prometheus {
        let binary = require_tool(
            "prometheus",
            "install Debian's `prometheus` package (`.ci/test` does)",
        );
        let dir = std::env::temp_dir().join(format!(
            "observe-prometheus-{}-{}",
            std::process::id(),
            target.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let rule_files = match rules {
            Some(rules) => {
                let file = dir.join("rules.yml");
                std::fs::write(&file, rules).unwrap();
                format!("rule_files:\n  - '{}'\n", file.display())
            }
            None => String::new(),
        };
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 {rule_files}\
                 scrape_configs:\n  - job_name: observe\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = free_addr();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Prometheus { child, addr, dir }
    }

    /// The server's directory (its log is `prometheus.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The whole answer of a Prometheus API call, or `None` until it
    /// answers with HTTP 200.
    pub fn answer(&self, path: &str, params: &[(&str, &str)]) -> Option<serde_json::Value> {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        let url = format!("{path}?{}", query.join("&"));
        let stream = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if stream.is_err() {
            return None;
        }
        let (status, _, body) = http_get(self.addr, &url, &[]);
        if status != 200 && status != 400 && status != 422 {
            return None;
        }
        serde_json::from_str(&body).ok()
    }

    /// The `data` of a Prometheus API answer, or `None` until it answers
    /// with success.
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Option<serde_json::Value> {
        let answer = self.answer(path, params)?;
        (answer["status"] == "success").then(|| answer["data"].clone())
    }

    /// Polls `f` until it returns `Some`, for at most `limit`.
    pub fn wait_for_at_most<T>(
        &self,
        limit: Duration,
        what: &str,
        f: impl Fn(&Prometheus) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(value) = f(self) {
                return value;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("prometheus.log"));
                panic!("timed out waiting for {what}; prometheus log:\n{log:?}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Polls `f` until it returns `Some`, for at most 60 s.
    pub fn wait_for<T>(&self, what: &str, f: impl Fn(&Prometheus) -> Option<T>) -> T {
        self.wait_for_at_most(Duration::from_secs(60), what, f)
    }

    /// Waits until `up` of the target has been 1 in `n` scrapes.
    pub fn wait_for_scrapes(&self, n: u32) {
        self.wait_for(&format!("{n} successful scrapes"), |p| {
            let data = p.api(
                "/api/v1/query",
                &[("query", "sum_over_time(up{job=\"observe\"}[1m])")],
            )?;
            let value: f64 = data["result"][0]["value"][1].as_str()?.parse().ok()?;
            (value >= f64::from(n)).then_some(())
        });
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
