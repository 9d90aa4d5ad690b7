use observe_runtime::observe;

#[observe(server, span = "Api.GetOrder", request = req, route = "orders/42?full=1")]
fn get_order(req: http::Request<()>) {}

#[observe(server, span = "Api.ListOrders", request = req, route = path)]
fn list_orders(req: http::Request<()>, path: &str) {}

fn main() {}
