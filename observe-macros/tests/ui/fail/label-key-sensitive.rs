use observe_runtime::observe;

#[observe(span = "User.SignUp", metric = "latency", labels(user.email = "x"))]
fn sign_up() {}

fn main() {}
