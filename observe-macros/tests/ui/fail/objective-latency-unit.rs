use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric = "latency", objective(latency = "250", latency_target = "99%"))]
fn pay() {}

fn main() {}
