//! Words the built-in list was missing, one key each.
use observe_runtime::observe;

#[observe(
    span = "User.Update",
    fields(
        mobile = v,
        msisdn = v,
        cvv = v,
        iban = v,
        passwd = v,
        api_key = v,
        auth.bearer = v,
        client.ip = v,
        user.birth_date = v,
    )
)]
fn update(v: &str) -> usize {
    v.len()
}

fn main() {}
