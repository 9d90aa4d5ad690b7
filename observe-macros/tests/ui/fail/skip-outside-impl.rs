use observe_runtime::observe;

#[observe(skip)]
fn helper() {}

fn main() {}
