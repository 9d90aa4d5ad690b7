use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(name = "checkout_duration_seconds", buckets = [0.5, 1e999]))]
fn checkout() {}

fn main() {}
