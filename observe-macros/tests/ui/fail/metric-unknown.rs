use observe_runtime::observe;

#[observe(span = "Order.Submit", metric = "latncy")]
fn submit() {}

fn main() {}
