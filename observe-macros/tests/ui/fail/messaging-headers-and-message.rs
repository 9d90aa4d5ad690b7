use observe_runtime::observe;

#[observe(consumer, span = "Orders.Process", headers = delivery, message = delivery)]
fn process(delivery: &lapin::message::Delivery) {}

fn main() {}
