use observe_runtime::observe;

#[observe(span = "User.Notify", fields(note = format!("{}", email), line = format!("{phone:?}")))]
fn notify(email: &str, phone: &str) -> usize {
    email.len() + phone.len()
}

fn main() {}
