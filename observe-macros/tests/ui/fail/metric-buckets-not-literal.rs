use observe_runtime::observe;

const SLOW: f64 = 5.0;

#[observe(span = "Order.Checkout", metric(name = "checkout_duration_seconds", buckets = [0.5, SLOW]))]
fn checkout() {}

fn main() {}
