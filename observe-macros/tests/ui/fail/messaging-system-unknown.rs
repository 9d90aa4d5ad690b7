use observe_runtime::observe;

#[observe(producer, span = "Orders.Publish", system = "rabbit")]
fn publish() {}

fn main() {}
