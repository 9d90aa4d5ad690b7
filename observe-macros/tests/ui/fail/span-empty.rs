use observe_runtime::observe;

#[observe(span = "")]
fn submit() {}

fn main() {}
