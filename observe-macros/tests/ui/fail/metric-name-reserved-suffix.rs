use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(name = "checkout_seconds_total"))]
fn checkout() {}

fn main() {}
