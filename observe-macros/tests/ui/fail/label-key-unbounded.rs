use observe_runtime::observe;

#[observe(span = "Http.Get", metric = "latency", labels(url = "/", client.ip = "::1"))]
fn get() {}

fn main() {}
