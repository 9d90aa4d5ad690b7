//! A value of a marked type is refused raw under any key, here by `Display`.
use observe_runtime::{observe, Sensitive};

#[derive(Sensitive)]
struct Msisdn(String);

#[observe(span = "User.Notify", fields(target = %number))]
fn notify(number: &Msisdn) {}

fn main() {}
