//! Every naming mistake in one attribute is reported in one build, each at
//! its own token.
use observe_runtime::observe;

#[observe(
    span = "order.submit",
    metric(name = "checkout_ms", buckets = [1.0, 0.5]),
    fields(tenantId = tenant),
    labels(user_id = "x")
)]
fn submit(tenant: u32) -> u32 {
    tenant
}

fn main() {}
