use observe_runtime::observe;

#[observe(span = "Order..Submit")]
fn submit() {}

fn main() {}
