use observe_runtime::observe;

#[observe(span = "Checkout.Pay", metric(name = "pay_duration_seconds", buckets = [0.1, 0.2]),
          objective(latency = "1s", latency_target = "99%"))]
fn pay() {}

fn main() {}
