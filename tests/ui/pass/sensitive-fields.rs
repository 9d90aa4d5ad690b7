//! Sensitive keys take `mask(..)` or `hash(..)`, by any path.
#![deny(warnings)]

use observe_runtime::{hash, mask, observe};

pub struct User {
    pub phone: String,
    pub email: String,
}

#[observe(
    span = "User.SignUp",
    fields(
        user.phone = mask(&user.phone),
        user.email = observe_runtime::hash(&user.email),
        contact = mask(user.email.as_str()),
        card.last4 = %mask(&card),
        has_email = !user.email.is_empty(),
    )
)]
fn sign_up(user: &User, card: u64) {}

fn main() {
    let user = User {
        phone: "13812348000".into(),
        email: "ada@example.com".into(),
    };
    sign_up(&user, 4111111111111111);
    assert_eq!(mask(&user.phone).to_string(), "138****8000");
    assert_eq!(hash(&user.email).to_string().len(), 32);
}
