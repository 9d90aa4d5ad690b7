use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(name = "checkout_duration_seconds", bucket = [0.1]))]
fn checkout() {}

fn main() {}
