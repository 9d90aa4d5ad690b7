use observe_runtime::observe;

#[observe(span = "Payment.Charge", metric = "latency", fields(payment.method = "card"), labels(payment.method = "card"))]
fn charge() {}

fn main() {}
