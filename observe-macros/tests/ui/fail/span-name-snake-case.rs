use observe_runtime::observe;

#[observe(span = "order_service.create_order")]
fn create_order() {}

fn main() {}
