//! A marked type by value: refused, and it has no attribute value either.
use observe_runtime::observe;
use observe_runtime::pii::Iban;

#[observe(span = "Payment.Refund", fields(target = account))]
fn refund(account: Iban) {}

fn main() {}
