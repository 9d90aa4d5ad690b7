use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(name = "checkout_duration_seconds", buckets = [0.005, 0.5, 0.05, 5.0]))]
fn checkout() {}

fn main() {}
