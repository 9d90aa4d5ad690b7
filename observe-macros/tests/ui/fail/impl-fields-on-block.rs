use observe_runtime::observe;

struct OrderService;

#[observe(fields(order.id = 1))]
impl OrderService {
    pub fn submit(&self) {}
}

fn main() {}
