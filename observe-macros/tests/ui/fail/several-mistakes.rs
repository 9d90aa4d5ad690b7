use observe_runtime::observe;

#[observe(span = format!("x-{}", 1), metric = "latncy")]
fn submit() {}

fn main() {}
