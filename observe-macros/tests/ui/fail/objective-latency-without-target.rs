use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric = "latency", objective(latency = "250ms"))]
fn pay() {}

fn main() {}
