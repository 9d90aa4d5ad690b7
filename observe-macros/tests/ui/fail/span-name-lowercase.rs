use observe_runtime::observe;

#[observe(span = "order.submit")]
fn submit() {}

fn main() {}
