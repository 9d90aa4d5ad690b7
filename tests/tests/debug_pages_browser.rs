//! The metric -> trace -> log path, clicked through in a real headless
//! Chromium (Debian's `chromium` and `chromium-driver`, over WebDriver):
//! `/debug/metrics` of a running observed program, an exemplar link of a
//! slow bucket, the waterfall of the trace it named with the child spans
//! nested under their parent, and that trace's log lines. A screenshot of
//! each page is saved under `$CARGO_TARGET_TMPDIR/browser-screenshots`.
//! Assertions are on the DOM.
//!
//! Without `chromium` or `chromedriver` the test fails, saying how to
//! install them (`.ci/test` does).

use std::net::{SocketAddr, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use observe_runtime::observe;
use observe_tests::{free_addr, init_for_process, require_tool};
use serde_json::json;

#[derive(Debug)]
struct Declined;

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}

impl std::error::Error for Declined {}

#[observe(span = "Stock.Reserve", fields(sku = sku))]
fn reserve(sku: &str, slow: bool) {
    tracing::info!(sku, "reserving stock");
    std::thread::sleep(Duration::from_millis(if slow { 180 } else { 1 }));
}

#[observe(span = "Card.Charge", kind = client)]
fn charge(cents: u64) -> Result<(), Declined> {
    tracing::info!(cents, "charging card");
    std::thread::sleep(Duration::from_millis(2));
    if cents > 10_000 {
        return Err(Declined);
    }
    Ok(())
}

#[observe(span = "Checkout.Submit", metric = "latency")]
fn submit(order: u32, slow: bool) -> Result<(), Declined> {
    tracing::info!(order, "submitting order");
    reserve(&format!("SKU-{order}"), slow);
    charge(u64::from(order) * 100)?;
    tracing::info!(order, "order submitted");
    Ok(())
}

/// An order waiting for payment for as long as the test browses: a call
/// running, never ended while the pages are read.
#[observe(span = "Payment.Await")]
fn await_payment(paid: std::sync::mpsc::Receiver<()>) {
    let _ = paid.recv();
}

/// chromedriver on a port of its own, stopped with the test.
struct Driver(Child);

impl Driver {
    fn start(port: u16) -> Driver {
        let chromedriver = require_tool(
            "chromedriver",
            "install Debian's `chromium-driver` (apt-get install chromium chromium-driver)",
        );
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    let path = screenshots_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("the screenshot is saved");
    eprintln!("screenshot: {}", path.display());
}

async fn browser(driver_port: u16) -> Client {
    let chromium = require_tool(
        "chromium",
        "install Debian's `chromium` (apt-get install chromium chromium-driver)",
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,1000"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session in headless Chromium")
}

async fn attr(element: &fantoccini::elements::Element, name: &str) -> String {
    element
        .attr(name)
        .await
        .expect("an attribute")
        .unwrap_or_else(|| panic!("no attribute `{name}`"))
}

#[test]
fn metric_to_trace_to_log_lines_in_a_browser() {
    let addr = free_addr();
    let (_exporter, _capture) = init_for_process("browser-checkout", |c| c.metrics_addr(addr));
    // Fast orders, two slow ones and a declined one.
    for order in 1..=12 {
        let _ = submit(order, order == 5 || order == 9);
    }
    let _ = submit(200, false);
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    let (pay, paid) = std::sync::mpsc::channel();
    let waiting = std::thread::spawn(move || await_payment(paid));

    let driver_port = free_addr().port();
    let _driver = Driver::start(driver_port);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = browser(driver_port).await;
        let result = AssertUnwindSafe(click_through(&client, addr))
            .catch_unwind()
            .await;
        // The browser closes before a failure is reported.
        let _ = client.close().await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
    pay.send(()).unwrap();
    waiting.join().unwrap();
}

async fn click_through(client: &Client, addr: SocketAddr) {
    // 1. The latency page.
    client
        .goto(&format!("http://{addr}/debug/metrics"))
        .await
        .unwrap();
    let series = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(
            "table.series[data-labels*='operation=\"Checkout.Submit\"'][data-labels*='outcome=\"ok\"']",
        ))
        .await
        .expect("the Checkout.Submit series");
    screenshot(client, "1-debug-metrics").await;

    // 2. The exemplar of the slowest bucket that has one: a slow order's.
    let exemplars = series.find_all(Locator::Css("a.exemplar")).await.unwrap();
    assert!(!exemplars.is_empty(), "no exemplar link on the page");
    let slowest = exemplars.last().unwrap();
    let le: f64 = attr(slowest, "data-le")
        .await
        .parse()
        .expect("a finite bound");
    assert!(le >= 0.18, "the slowest exemplar is in the bucket le={le}");
    let trace_id = attr(slowest, "data-trace-id").await;
    assert_eq!(trace_id.len(), 32);
    let href = attr(slowest, "href").await;
    assert!(
        href.starts_with(&format!("/debug/traces/{trace_id}")),
        "{href}"
    );
    slowest.click().await.unwrap();

    // 3. That trace's waterfall.
    let shown = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#trace-id"))
        .await
        .expect("the trace page");
    assert_eq!(shown.text().await.unwrap(), trace_id);
    let url = client.current_url().await.unwrap();
    assert_eq!(url.path(), format!("/debug/traces/{trace_id}"));
    let roots = client
        .find_all(Locator::Css("ul.waterfall > li.span"))
        .await
        .unwrap();
    assert_eq!(roots.len(), 1, "one root span");
    let root = &roots[0];
    assert_eq!(attr(root, "data-name").await, "Checkout.Submit");
    assert_eq!(attr(root, "data-parent-id").await, "");
    let root_id = attr(root, "data-span-id").await;
    let children = root
        .find_all(Locator::Css(":scope > ul.children > li.span"))
        .await
        .unwrap();
    let mut names = Vec::new();
    for child in &children {
        assert_eq!(attr(child, "data-parent-id").await, root_id);
        names.push(attr(child, "data-name").await);
    }
    assert_eq!(
        names,
        ["Stock.Reserve", "Card.Charge"],
        "children by start time"
    );
    let reserve = &children[0];
    let reserve_bar = reserve
        .find(Locator::Css(":scope > .row .bar"))
        .await
        .unwrap();
    let style = attr(&reserve_bar, "style").await;
    let width: f64 = style
        .split("width:")
        .nth(1)
        .and_then(|w| w.trim_end_matches(['%', ';']).parse().ok())
        .unwrap_or_else(|| panic!("no width in {style}"));
    assert!(
        width > 80.0,
        "the slow reservation takes most of the trace: {style}"
    );
    let attributes = reserve
        .find(Locator::Css(":scope > details.attrs"))
        .await
        .unwrap();
    attributes.click().await.unwrap();
    let table = attributes.text().await.unwrap();
    assert!(table.contains("sku"), "{table}");

    // 4. The trace's log lines: beside the span each was written in, and
    // all of them in time order.
    let reserve_logs = reserve
        .find_all(Locator::Css(":scope > ul.logs > li.log"))
        .await
        .unwrap();
    assert_eq!(reserve_logs.len(), 1);
    assert!(reserve_logs[0]
        .text()
        .await
        .unwrap()
        .contains("reserving stock"));
    let root_logs = root
        .find_all(Locator::Css(":scope > ul.logs > li.log .message"))
        .await
        .unwrap();
    let mut messages = Vec::new();
    for line in &root_logs {
        messages.push(line.text().await.unwrap());
    }
    assert_eq!(messages, ["submitting order", "order submitted"]);
    let all = client
        .find_all(Locator::Css("#trace-logs > li.log .message"))
        .await
        .unwrap();
    let mut in_order = Vec::new();
    for line in &all {
        in_order.push(line.text().await.unwrap());
    }
    assert_eq!(
        in_order,
        [
            "submitting order",
            "reserving stock",
            "charging card",
            "order submitted"
        ]
    );
    screenshot(client, "2-debug-trace").await;

    // The span names page: the declined order among the errors, one click
    // from its trace.
    client
        .goto(&format!("http://{addr}/debug/traces"))
        .await
        .unwrap();
    let row = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#span-names tr[data-name='Card.Charge']"))
        .await
        .unwrap();
    let errors = row
        .find(Locator::Css("a.bucket[data-bucket='errors']"))
        .await
        .unwrap();
    assert_eq!(errors.text().await.unwrap(), "1");
    let running = |name: &'static str| async move {
        client
            .find(Locator::Css(&format!(
                "#span-names tr[data-name='{name}'] td.running"
            )))
            .await
            .unwrap_or_else(|e| panic!("no running count for {name}: {e}"))
            .text()
            .await
            .unwrap()
    };
    // Every charge has ended; the payment being awaited is running, listed
    // though no span of its name has ended.
    assert_eq!(running("Card.Charge").await, "0");
    assert_eq!(running("Payment.Await").await, "1");
    errors.click().await.unwrap();
    let sample = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#sample-list a.trace-link"))
        .await
        .unwrap();
    let status = client
        .find(Locator::Css("#sample-list tbody tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("card declined"), "{status}");
    screenshot(client, "3-debug-traces").await;
    sample.click().await.unwrap();
    let failed = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(
            "li.span[data-name='Card.Charge'][data-status='error']",
        ))
        .await
        .expect("the declined charge in its trace");
    assert_eq!(attr(&failed, "data-status").await, "error");
}
