use observe_runtime::observe;

#[observe(span = "Order.Submit", kind = serve)]
fn submit() {}

fn main() {}
