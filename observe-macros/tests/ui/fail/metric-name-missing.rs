use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(buckets = [0.1, 1.0]))]
fn checkout() {}

fn main() {}
