//! What the naming conventions produce at run time: custom histogram families
//! with their own buckets in the `/metrics` text, labels as label dimensions,
//! masked and hashed sensitive fields on the exported span, and default
//! `Type.Method` names from an `#[observe]` impl block.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use observe_runtime::{hash, mask, observe, LabelValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        assert!(
            observe_runtime::set_hash_key(b"conventions test key"),
            "nothing was hashed before"
        );
        let (exporter, guard) = observe_tests::init_in_memory("conventions-test");
        // The guard lives for the whole test binary.
        std::mem::forget(guard);
        exporter
    })
}

fn spans_named(name: &str) -> Vec<SpanData> {
    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    exporter()
        .get_finished_spans()
        .expect("finished spans")
        .into_iter()
        .filter(|span| span.name == name)
        .collect()
}

fn attributes(span: &SpanData) -> HashMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

/// The value of the sample line `name{labels...}` whose labels include all
/// of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[derive(Clone, Copy, Debug, LabelValue)]
enum PaymentMethod {
    Card,
    BankTransfer,
    #[label(rename = "wallet")]
    ApplePay,
}

#[observe(
    span = "Checkout.Pay",
    metric(name = "checkout_duration_seconds", buckets = [0.005, 0.05, 0.5, 5.0]),
    labels(payment.method = method, payment.provider = "stripe", retried = retried)
)]
fn pay(method: PaymentMethod, retried: bool) -> Result<(), String> {
    if retried {
        return Err("declined".into());
    }
    Ok(())
}

#[observe(span = "Checkout.Quote", metric = "latency", labels(payment.method = method))]
fn quote(method: PaymentMethod) {}

#[observe(span = "Checkout.Plain", metric = "latency")]
fn plain() {}

#[test]
fn custom_families_and_labels_appear_in_the_metrics_text() {
    exporter();
    for _ in 0..3 {
        pay(PaymentMethod::Card, false).unwrap();
    }
    pay(PaymentMethod::ApplePay, false).unwrap();
    pay(PaymentMethod::BankTransfer, true).unwrap_err();
    // Another thread's shard is summed into the same series.
    std::thread::spawn(|| pay(PaymentMethod::Card, false).unwrap())
        .join()
        .unwrap();
    quote(PaymentMethod::BankTransfer);
    plain();

    let text = observe_runtime::metrics::render();
    let family = "checkout_duration_seconds";
    assert!(
        text.contains(&format!("# TYPE {family} histogram")),
        "{text}"
    );
    let card = [
        ("operation", "Checkout.Pay"),
        ("outcome", "ok"),
        ("payment_method", "card"),
        ("payment_provider", "stripe"),
        ("retried", "false"),
    ];
    assert_eq!(
        sample(&text, &format!("{family}_count"), &card),
        Some(4.0),
        "{text}"
    );
    let wallet = [("payment_method", "wallet"), ("outcome", "ok")];
    assert_eq!(
        sample(&text, &format!("{family}_count"), &wallet),
        Some(1.0),
        "{text}"
    );
    let declined = [
        ("payment_method", "bank_transfer"),
        ("retried", "true"),
        ("outcome", "error"),
        ("error_type", "String"),
    ];
    assert_eq!(
        sample(&text, &format!("{family}_count"), &declined),
        Some(1.0),
        "{text}"
    );

    // The family's own buckets, not the default ones.
    let bucket = |le: &str| {
        let mut labels = card.to_vec();
        labels.push(("le", le));
        sample(&text, &format!("{family}_bucket"), &labels)
    };
    for le in ["0.005", "0.05", "0.5", "5", "+Inf"] {
        assert_eq!(bucket(le), Some(4.0), "le={le}\n{text}");
    }
    assert_eq!(
        bucket("0.0005"),
        None,
        "a default bucket in a custom family\n{text}"
    );

    // Labels on the default family too; a series without a label has it empty,
    // which Prometheus reads as absent.
    let default = "operation_duration_seconds";
    assert_eq!(
        sample(
            &text,
            &format!("{default}_count"),
            &[
                ("operation", "Checkout.Quote"),
                ("payment_method", "bank_transfer")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("{default}_count"),
            &[("operation", "Checkout.Plain"), ("payment_method", "")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with(default) && line.contains("operation=\"Checkout.Pay\"")),
        "a custom family's calls are not counted in the default family\n{text}"
    );

    // Labels are span attributes too.
    let span = spans_named("Checkout.Quote").pop().expect("span");
    assert_eq!(attributes(&span)["payment.method"], "bank_transfer");

    observe_tests::check_with_promtool(&text);
}

#[test]
fn label_values_come_from_closed_sets() {
    assert_eq!(PaymentMethod::VALUES, ["card", "bank_transfer", "wallet"]);
    assert_eq!(PaymentMethod::ApplePay.label_value(), "wallet");
    assert_eq!(PaymentMethod::BankTransfer.label_index(), 1);
    assert_eq!(<bool as LabelValue>::VALUES, ["false", "true"]);
}

struct User {
    phone: String,
    email: String,
}

#[observe(
    span = "Account.Register",
    fields(user.phone = mask(&user.phone), user.email = hash(&user.email), contact = mask(&user.email))
)]
fn register(user: &User) {}

#[test]
fn sensitive_fields_are_exported_masked_or_hashed() {
    exporter();
    let user = User {
        phone: "13812348000".into(),
        email: "ada@example.com".into(),
    };
    register(&user);
    let span = spans_named("Account.Register").pop().expect("span");
    let attributes = attributes(&span);
    assert_eq!(attributes["user.phone"], "138****8000");
    assert_eq!(attributes["contact"], "a***@example.com");
    let digest = &attributes["user.email"];
    assert_eq!(digest.len(), 32, "{digest}");
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()), "{digest}");
    assert_eq!(*digest, hash("ada@example.com").to_string(), "stable");
    assert_ne!(*digest, hash("bob@example.com").to_string());
    assert!(
        !format!("{:?}", span.attributes).contains("13812348000")
            && !format!("{:?}", span.attributes).contains("ada@example.com"),
        "no raw value leaves the process: {:?}",
        span.attributes
    );
    assert_eq!(
        mask("4111 1111 1111 1111").to_string(),
        "411* **** **** 1111"
    );
}

pub struct Ledger {
    entries: Vec<u64>,
}

#[observe(kind = client)]
impl Ledger {
    pub fn record_entry(&mut self, cents: u64) {
        self.entries.push(cents);
    }

    #[observe(skip)]
    pub fn total(&self) -> u64 {
        self.entries.iter().sum()
    }

    #[observe(span = "Ledger.Reset", kind = internal)]
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[test]
fn impl_blocks_name_spans_after_type_and_method() {
    exporter();
    let mut ledger = Ledger {
        entries: Vec::new(),
    };
    ledger.record_entry(5);
    assert_eq!(ledger.total(), 5);
    ledger.clear();
    let recorded = spans_named("Ledger.RecordEntry")
        .pop()
        .expect("default name");
    assert_eq!(recorded.span_kind, opentelemetry::trace::SpanKind::Client);
    assert_eq!(
        spans_named("Ledger.Reset")
            .pop()
            .expect("renamed")
            .span_kind,
        opentelemetry::trace::SpanKind::Internal
    );
    assert!(spans_named("Ledger.Total").is_empty(), "skipped");
}

mod first {
    use observe_runtime::observe;

    #[observe(span = "Catalog.Twice")]
    pub fn one() {}
}

mod second {
    use observe_runtime::observe;

    #[observe(span = "Catalog.Twice", kind = server, metric = "latency")]
    pub fn two() {}
}

#[test]
fn catalog_lists_every_function_before_any_call() {
    // `first::one` and `second::two` are never called.
    let catalog = observe_runtime::catalog();
    let twice: Vec<_> = catalog
        .iter()
        .filter(|entry| entry.name == "Catalog.Twice")
        .collect();
    assert_eq!(twice.len(), 2, "{catalog:#?}");
    assert_eq!(
        (twice[0].function, twice[0].module, twice[0].file),
        ("one", "conventions::first", file!())
    );
    assert_eq!(twice[0].metric, None);
    assert_eq!(
        (twice[1].function, twice[1].kind),
        ("two", observe_runtime::SpanKind::Server)
    );
    assert_eq!(
        twice[1].metric.as_deref(),
        Some("operation_duration_seconds")
    );

    let pay = catalog
        .iter()
        .find(|entry| entry.name == "Checkout.Pay")
        .expect("listed");
    assert_eq!(pay.metric.as_deref(), Some("checkout_duration_seconds"));
    assert_eq!(
        pay.labels,
        ["payment_method", "payment_provider", "retried"]
    );
    assert!(
        catalog
            .iter()
            .any(|entry| entry.name == "Ledger.RecordEntry"),
        "impl-block methods are listed under their default names"
    );

    let duplicates = observe_runtime::catalog::duplicate_span_names();
    assert_eq!(duplicates.len(), 1, "{duplicates:#?}");
    let panic = std::panic::catch_unwind(observe_runtime::assert_unique_span_names)
        .expect_err("a duplicate name fails the check");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(message.contains("`Catalog.Twice` is used by:"), "{message}");
    for entry in twice {
        let location = format!(
            "{}::{} at {}:{}",
            entry.module, entry.function, entry.file, entry.line
        );
        assert!(message.contains(&location), "{location} in\n{message}");
    }
}
