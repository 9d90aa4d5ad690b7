use observe_runtime::observe;

#[observe(span = "Payment.Charge", metric = "latency", labels(payment.method = "card", payment_method = "card"))]
fn charge() {}

fn main() {}
