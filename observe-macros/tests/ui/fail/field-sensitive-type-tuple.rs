//! A tuple's field has no name to go by, but its type is marked.
use observe_runtime::observe;
use observe_runtime::pii::CardNumber;

#[observe(span = "Payment.Charge", fields(target = ?pair.1))]
fn charge(pair: (u32, CardNumber)) {}

fn main() {}
