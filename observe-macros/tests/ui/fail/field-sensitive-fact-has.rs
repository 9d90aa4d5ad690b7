use observe_runtime::observe;

pub trait Domain {
    fn has_domain(&self) -> String;
}

impl Domain for str {
    fn has_domain(&self) -> String {
        self.to_owned()
    }
}

#[observe(span = "User.Notify", fields(user.email = email.has_domain()))]
fn notify(email: &str) -> usize {
    email.len()
}

fn main() {}
