use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric = "latency", objective(success = "99.9%", success = "99%"))]
fn pay() {}

fn main() {}
