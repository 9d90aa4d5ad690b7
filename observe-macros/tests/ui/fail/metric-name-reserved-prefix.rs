use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(name = "__checkout_seconds"))]
fn checkout() {}

fn main() {}
