use observe_runtime::observe;

#[observe(span = "Order.Submit", metric = "latency", labels(outcome = "fast"))]
fn submit() {}

fn main() {}
