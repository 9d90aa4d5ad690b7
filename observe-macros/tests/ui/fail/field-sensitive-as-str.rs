use observe_runtime::observe;

pub struct Customer {
    pub email: String,
}

#[observe(span = "User.Notify", fields(contact = customer.email.as_str()))]
fn notify(customer: &Customer) -> usize {
    customer.email.len()
}

fn main() {}
