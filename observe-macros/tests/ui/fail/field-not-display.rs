use observe_runtime::observe;

struct Customer;

#[observe(span = "Order.Submit", fields(customer = %customer))]
fn submit(customer: &Customer) {
    let _ = customer;
}

fn main() {}
