use observe_runtime::observe;

#[observe(consumer, span = "Orders.Process", headers = order_id)]
fn process(order_id: u64) {}

fn main() {}
