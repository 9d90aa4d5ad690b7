use observe_runtime::observe;

#[observe(server, span = "Api.GetOrder", request = req, system = "kafka", destination = "orders")]
fn get_order(req: http::Request<()>) {}

#[observe(consumer, span = "Orders.Process", request = req)]
fn process(req: http::Request<()>) {}

#[observe(span = "Api.Health", route = "/health")]
fn health() {}

fn main() {}
