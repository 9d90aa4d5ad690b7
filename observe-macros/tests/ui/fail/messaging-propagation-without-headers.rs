use observe_runtime::observe;

#[observe(consumer, span = "Orders.Process", propagation = "link")]
fn process() {}

fn main() {}
