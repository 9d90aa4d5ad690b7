use observe_runtime::observe;

#[observe(span = "Payment.Charge", metric = "latency", labels(payment.method = method))]
fn charge(method: String) {}

fn main() {}
