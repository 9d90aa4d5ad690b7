use observe_runtime::observe;

#[observe(span = "Order.Submit", metirc = "latency")]
fn submit() {}

fn main() {}
