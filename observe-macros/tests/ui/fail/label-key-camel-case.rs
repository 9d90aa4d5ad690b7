use observe_runtime::observe;

#[observe(span = "Payment.Charge", metric = "latency", labels(paymentMethod = "card"))]
fn charge() {}

fn main() {}
