use observe_runtime::observe;

#[observe(span = "Checkout.Pay", objective(success = "99.9%"))]
fn pay() {}

fn main() {}
