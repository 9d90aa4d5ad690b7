use observe_runtime::observe;

#[observe(span = "User.Notify", fields(contact = email.clone()))]
fn notify(email: String) -> usize {
    email.len()
}

fn main() {}
