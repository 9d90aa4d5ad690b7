use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(name = "CheckoutDuration_seconds"))]
fn checkout() {}

fn main() {}
