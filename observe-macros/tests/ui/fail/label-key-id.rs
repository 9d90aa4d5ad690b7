use observe_runtime::observe;

#[observe(span = "Order.Submit", metric = "latency", labels(user_id = "a", request.id = "b", orderId = "c"))]
fn submit() {}

fn main() {}
