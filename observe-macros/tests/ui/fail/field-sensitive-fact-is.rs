use observe_runtime::observe;

pub trait Valid {
    fn is_valid(&self) -> String;
}

impl Valid for str {
    fn is_valid(&self) -> String {
        self.to_owned()
    }
}

#[observe(span = "User.Notify", fields(flag = email.is_valid()))]
fn notify(email: &str) -> usize {
    email.len()
}

fn main() {}
