use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric = "latency", objective(success = "99.9%", window = "30 days"))]
fn pay() {}

fn main() {}
