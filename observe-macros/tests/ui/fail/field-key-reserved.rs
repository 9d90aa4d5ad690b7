use observe_runtime::observe;

#[observe(span = "Order.Submit", fields(error.type = "mine"))]
fn submit() {}

fn main() {}
