use observe_runtime::observe;

const SPAN_NAME: &str = "Order.Submit";

#[observe(span = SPAN_NAME)]
fn submit() {}

fn main() {}
