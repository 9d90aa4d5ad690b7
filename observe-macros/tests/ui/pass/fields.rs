//! `fields(...)`: plain, `%` Display and `?` Debug values, dotted and string
//! keys, and a `metric`.
#![deny(warnings)]

use observe_runtime::observe;

#[derive(Debug)]
struct Customer {
    name: String,
}

impl std::fmt::Display for Customer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

struct Order {
    id: u64,
    items: Vec<u32>,
    customer: Customer,
    express: bool,
}

#[observe(
    span = "Order.Submit",
    metric = "latency",
    fields(
        order.id = order.id,
        item_count = order.items.len(),
        customer = %order.customer,
        debug = ?order.customer,
        "order.express" = order.express,
        order.type = "retail",
        ratio = 0.5,
        first_item = order.items.first().copied().unwrap_or_default(),
    )
)]
fn submit(order: &Order) -> Result<u64, String> {
    if order.items.is_empty() {
        return Err("no items".into());
    }
    Ok(order.id)
}

#[observe(span = "Order.Consume", fields(len = text.len()))]
fn consumes(text: String) -> String {
    // The field borrows `text` before the body takes it by value.
    text
}

fn main() {
    let order = Order {
        id: 7,
        items: vec![1],
        customer: Customer { name: "ada".into() },
        express: false,
    };
    assert_eq!(submit(&order), Ok(7));
    assert_eq!(consumes("x".into()), "x");
}
