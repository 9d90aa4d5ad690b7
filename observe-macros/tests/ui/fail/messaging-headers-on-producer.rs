use observe_runtime::observe;

#[observe(producer, span = "Orders.Publish", headers = headers)]
fn publish(headers: &std::collections::HashMap<String, String>) {}

fn main() {}
