use observe_runtime::observe;

#[observe(span = "Order.Submit", fields(order.id = id, count = 1, order.id = id + 1))]
fn submit(id: u64) -> u64 {
    id
}

fn main() {}
