use observe_runtime::observe;

#[observe(span = format!("x-{}", 1))]
fn submit() {}

fn main() {}
