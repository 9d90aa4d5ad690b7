use observe_runtime::observe;

#[observe(span = "Order.Item")]
struct Order {
    id: u64,
}

fn main() {
    let _ = Order { id: 1 }.id;
}
