use observe_runtime::observe;

#[observe(span = "Order.Submit", kind = server, span = "Order.Send")]
fn submit() {}

fn main() {}
