use observe_runtime::observe;

#[observe(span = "Order.Limit")]
pub const fn limit() -> u32 {
    10
}

fn main() {}
