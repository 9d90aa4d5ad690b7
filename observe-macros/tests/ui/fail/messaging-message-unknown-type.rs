use observe_runtime::observe;

#[observe(consumer, span = "Orders.Process", message = headers)]
fn process(headers: &std::collections::HashMap<String, String>) {}

fn main() {}
