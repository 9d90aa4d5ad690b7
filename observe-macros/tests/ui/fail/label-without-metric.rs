use observe_runtime::observe;

#[observe(span = "Payment.Charge", labels(payment.method = "card"))]
fn charge() {}

fn main() {}
