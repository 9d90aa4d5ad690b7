use observe_runtime::observe;

#[observe(span = "submit_order")]
fn submit_order() {}

fn main() {}
