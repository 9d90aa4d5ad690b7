//! `#[observe]` on a method of an impl block that is not itself annotated:
//! the name cannot be derived, so it is asked for, with the way to get it.
use observe_runtime::observe;

struct OrderService;

impl OrderService {
    #[observe(kind = server)]
    pub fn submit_order(&self) {}
}

fn main() {}
