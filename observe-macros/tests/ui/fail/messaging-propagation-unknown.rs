use observe_runtime::observe;

#[observe(consumer, span = "Orders.Process", headers = headers, propagation = "child")]
fn process(headers: &std::collections::HashMap<String, String>) {}

fn main() {}
