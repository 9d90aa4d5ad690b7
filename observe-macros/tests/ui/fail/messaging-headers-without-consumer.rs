use observe_runtime::observe;

#[observe(span = "Orders.Process", headers = headers)]
fn process(headers: &std::collections::HashMap<String, String>) {}

fn main() {}
