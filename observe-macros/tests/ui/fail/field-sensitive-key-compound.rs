use observe_runtime::observe;

#[observe(span = "User.Notify", fields(emailaddress = a, useremail = b, creditcard = c))]
fn notify(a: &str, b: &str, c: u64) -> usize {
    a.len() + b.len() + c as usize
}

fn main() {}
