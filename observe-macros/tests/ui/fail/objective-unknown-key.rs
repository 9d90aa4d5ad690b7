use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric = "latency", objective(sucess = "99.9%"))]
fn pay() {}

fn main() {}
