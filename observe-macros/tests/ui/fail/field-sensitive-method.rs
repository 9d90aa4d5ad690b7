use observe_runtime::observe;

pub struct User;

impl User {
    pub fn get_email(&self) -> String {
        String::new()
    }
}

#[observe(span = "User.Notify", fields(who = user.get_email()))]
fn notify(user: &User) -> String {
    user.get_email()
}

fn main() {}
