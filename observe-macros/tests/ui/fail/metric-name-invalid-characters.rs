use observe_runtime::observe;

#[observe(span = "Order.Checkout", metric(name = "checkout-duration.seconds"))]
fn checkout() {}

fn main() {}
