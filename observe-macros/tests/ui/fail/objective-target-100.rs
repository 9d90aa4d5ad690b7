use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric = "latency", objective(success = "100%"))]
fn pay() {}

fn main() {}
