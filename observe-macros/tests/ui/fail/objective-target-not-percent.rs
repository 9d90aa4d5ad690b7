use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric = "latency", objective(success = "0.999"))]
fn pay() {}

fn main() {}
