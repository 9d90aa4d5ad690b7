use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric = "latency", objective())]
fn pay() {}

fn main() {}
