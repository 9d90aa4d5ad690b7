use observe_runtime::observe;

#[observe(span = "Shop.Payment.OrderService.Orders.Create")]
fn create() {}

fn main() {}
