use observe_runtime::observe;

#[observe(span = "User.SignUp", fields(user.phone = phone, user.email = %email))]
fn sign_up(phone: &str, email: &str) -> usize {
    phone.len() + email.len()
}

fn main() {}
