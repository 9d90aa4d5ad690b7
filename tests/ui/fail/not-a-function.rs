use observe_runtime::observe;

#[observe(span = "Order")]
struct Order {
    id: u64,
}

fn main() {
    let _ = Order { id: 1 }.id;
}
