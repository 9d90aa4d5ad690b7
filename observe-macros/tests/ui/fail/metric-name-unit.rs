use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(name = "checkout_duration_ms"))]
fn checkout() {}

fn main() {}
