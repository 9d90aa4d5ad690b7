use observe_runtime::observe;

#[observe(span = "User.Notify", fields(user.mail = to))]
fn notify(to: &str) -> usize {
    to.len()
}

fn main() {}
