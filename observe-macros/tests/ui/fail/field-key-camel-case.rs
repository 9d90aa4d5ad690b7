use observe_runtime::observe;

#[observe(span = "Order.Submit", fields(tenantId = tenant, "Order.Id" = id))]
fn submit(tenant: u32, id: u64) -> u64 {
    u64::from(tenant) + id
}

fn main() {}
