//! A shipped marked type, by `Debug`, inside an `Option`.
use observe_runtime::observe;
use observe_runtime::pii::Email;

#[observe(span = "User.Notify", fields(target = ?email))]
fn notify(email: Option<Email>) {}

fn main() {}
