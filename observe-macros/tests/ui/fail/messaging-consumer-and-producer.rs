use observe_runtime::observe;

#[observe(consumer, producer, span = "Orders.Process")]
fn process() {}

fn main() {}
