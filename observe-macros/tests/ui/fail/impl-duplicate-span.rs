use observe_runtime::observe;

struct OrderService;

#[observe]
impl OrderService {
    #[observe(span = "Order.Submit")]
    pub fn submit(&self) {}

    #[observe(span = "Order.Submit")]
    pub fn submit_again(&self) {}
}

fn main() {}
