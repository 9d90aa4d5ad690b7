use observe_runtime::observe;

#[observe(span = "Order.Submit", level = "info")]
fn submit() {}

fn main() {}
