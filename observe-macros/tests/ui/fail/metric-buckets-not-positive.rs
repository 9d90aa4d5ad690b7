use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(name = "checkout_duration_seconds", buckets = [-1.0, 0, 0.5]))]
fn checkout() {}

fn main() {}
