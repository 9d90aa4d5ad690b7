use observe_runtime::observe;

struct User {
    email: String,
}

#[observe(span = "User.Notify", fields(contact = user.email))]
fn notify(user: &User) -> usize {
    user.email.len()
}

fn main() {}
