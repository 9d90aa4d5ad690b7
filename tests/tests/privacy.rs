//! Personal data recorded by every route `#[observe]` allows never leaves the
//! process raw: not in the spans a real OTLP receiver gets, not in the JSON
//! log lines. The test searches both for the raw email, phone number and
//! card number.

use std::fmt::Display;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use observe_runtime::pii::{CardNumber, Email, Phone};
use observe_runtime::{hash, mask, observe, Config, LogOutput, Sensitive, SpanOutput};
use observe_tests::{Capture, OtlpReceiver};

const EMAIL: &str = "alice@example.com";
const PHONE: &str = "13812348000";
const CARD: &str = "4111111111111111";
/// Under `loyalty_number`, a word of this crate's own policy
/// (`[package.metadata.observe]` in `tests/Cargo.toml`).
const LOYALTY: &str = "LN-2026120699";

#[derive(Clone, Sensitive)]
struct Msisdn(String);

#[derive(Debug)]
struct Customer {
    email: Email,
    phone: Phone,
    tier: u8,
}

#[derive(Debug)]
enum PaymentError {
    Declined(CardNumber),
}

impl Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PaymentError::Declined(card) => write!(f, "card {card} declined"),
        }
    }
}

impl std::error::Error for PaymentError {}

#[observe(
    span = "Privacy.SignUp",
    fields(
        customer = ?customer,
        user.email = hash(&customer.email),
        contact = mask(&customer.phone),
        line = mask(&msisdn),
        has_email = !customer.email.expose().is_empty(),
        tier = customer.tier,
    )
)]
fn sign_up(customer: &Customer, msisdn: &Msisdn) {
    // Every log route: by a sensitive key, by a marked type, by Debug of a
    // struct that holds one.
    tracing::info!(email = customer.email.expose().as_str(), "by key");
    tracing::info!(
        user.phone = PHONE.parse::<u64>().unwrap(),
        "by key, a number"
    );
    tracing::info!(contact = %customer.email, "by type, Display");
    tracing::info!(target_line = ?msisdn, "by type, Debug");
    tracing::info!(?customer, "a struct holding marked fields");
    tracing::info!("in the message: {}", customer.phone);
    tracing::info!(loyalty_number = LOYALTY, "by the crate's own word");
}

#[observe(span = "Privacy.Charge")]
fn charge(card: CardNumber) -> Result<(), PaymentError> {
    Err(PaymentError::Declined(card))
}

/// Known only generically here: the marked type's `Display` still redacts.
#[observe(span = "Privacy.Generic", fields(value = %value))]
fn generic<T: Display>(value: T) {}

#[test]
fn personal_data_never_leaves_raw() {
    let receiver = OtlpReceiver::start();
    let capture = Capture::default();
    let guard = observe_runtime::init(
        Config::default()
            .service_name("privacy-test")
            .hash_key("a deployment secret of 16+ characters")
            .logs(LogOutput::Writer(Arc::new(Mutex::new(capture.clone()))))
            .spans(SpanOutput::Otlp {
                endpoint: receiver.grpc_endpoint(),
                protocol: observe_runtime::ExportProtocol::Grpc,
            }),
    )
    .expect("init");

    let customer = Customer {
        email: Email::new(EMAIL),
        phone: Phone::new(PHONE),
        tier: 2,
    };
    sign_up(&customer, &Msisdn(format!("+86{PHONE}")));
    assert!(charge(CardNumber::new(CARD)).is_err());
    generic(Email::new(EMAIL));
    generic(&customer.phone);

    assert!(observe_runtime::force_flush(Duration::from_secs(10)));
    let metrics = observe_runtime::metrics::render();
    drop(guard);
    let spans = receiver.wait_until(Duration::from_secs(10), |s| s.len() >= 4);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let exported = format!("{spans:?}");
    let lines = capture.json_lines();
    // Seven events of sign_up, and the failure record of Privacy.Charge,
    // whose error message holds the card.
    assert_eq!(lines.len(), 8, "{lines:#?}");
    let failure = lines
        .iter()
        .find(|l| l["message"] == "observe.failure")
        .expect("the failure record");
    assert_eq!(failure["error.message"], "card [REDACTED] declined");
    let logs: String = lines.iter().map(|l| format!("{l}\n")).collect();

    for raw in [EMAIL, PHONE, CARD, LOYALTY] {
        assert!(!exported.contains(raw), "`{raw}` exported raw: {exported}");
        assert!(!logs.contains(raw), "`{raw}` logged raw: {logs}");
    }

    // What is there instead.
    let sign_up = spans.iter().find(|s| s.name == "Privacy.SignUp").unwrap();
    assert_eq!(
        sign_up.attributes["customer"],
        "Customer { email: [REDACTED], phone: [REDACTED], tier: 2 }"
    );
    assert_eq!(sign_up.attributes["user.email"], hash(EMAIL).to_string());
    assert_eq!(sign_up.attributes["contact"], "138****8000");
    assert_eq!(sign_up.attributes["has_email"], "true");
    let charge = spans.iter().find(|s| s.name == "Privacy.Charge").unwrap();
    assert_eq!(charge.status_code, 2);
    assert_eq!(charge.status_message, "card [REDACTED] declined");
    for generic in spans.iter().filter(|s| s.name == "Privacy.Generic") {
        assert_eq!(generic.attributes["value"], "[REDACTED]");
    }
    let by_message = |m: &str| lines.iter().find(|l| l["message"] == m).unwrap();
    assert_eq!(by_message("by key")["email"], mask(EMAIL).to_string());
    assert_eq!(by_message("by key, a number")["user.phone"], "138****8000");
    assert_eq!(by_message("by type, Display")["contact"], "[REDACTED]");
    assert_eq!(by_message("by type, Debug")["target_line"], "[REDACTED]");
    assert_eq!(
        by_message("in the message: [REDACTED]")["message"],
        "in the message: [REDACTED]"
    );
    assert_eq!(
        by_message("by the crate's own word")["loyalty_number"],
        mask(LOYALTY).to_string()
    );
    let redacted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("observe_log_fields_redacted_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("the counter is exposed");
    assert!(redacted >= 5.0, "{redacted} fields counted as masked");
}
