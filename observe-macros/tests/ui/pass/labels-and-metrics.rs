//! Custom histogram families with their own buckets, and labels from closed
//! sets: string literals, `bool`, and enums deriving `LabelValue`.
#![deny(warnings)]

use observe_runtime::{observe, LabelValue};

#[derive(Clone, Copy, LabelValue)]
pub enum PaymentMethod {
    Card,
    BankTransfer,
    #[label(rename = "wallet")]
    ApplePay,
}

#[observe(
    span = "Payment.Charge",
    metric(name = "checkout_duration_seconds", buckets = [0.005, 0.05, 0.5, 5]),
    labels(payment.method = method, payment.provider = "stripe", retried = retry)
)]
fn charge(method: PaymentMethod, retry: bool) -> Result<(), String> {
    Ok(())
}

#[observe(span = "Payment.Refund", metric(name = "refund_duration_seconds"))]
fn refund() {}

#[observe(span = "Payment.Capture", metric = "latency", labels(payment.method = &method))]
fn capture(method: PaymentMethod) {}

fn main() {
    assert_eq!(PaymentMethod::VALUES, ["card", "bank_transfer", "wallet"]);
    assert_eq!(PaymentMethod::ApplePay.label_value(), "wallet");
    charge(PaymentMethod::Card, false).unwrap();
    refund();
    capture(PaymentMethod::BankTransfer);
}
