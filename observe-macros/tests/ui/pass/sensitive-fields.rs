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

pub struct Shipping {
    pub method: &'static str,
    pub zip: &'static str,
}

/// Facts about a sensitive value, a redaction inside a conversion, and keys
/// that only look like sensitive words.
#[observe(
    span = "User.Ship",
    fields(
        email.length = user.email.len(),
        phone.known = user.phone.is_empty() || user.phone.len() > 3,
        same_email = user.email == user.phone,
        contact = %mask(&user.email).to_string(),
        note = format!("to {}", hash(&user.email)),
        zip = shipping.zip,
        shipping.method = shipping.method,
        span.kind = "internal",
        company = "acme",
        discard_count = 0,
        tokenizer = "cl100k",
    )
)]
fn ship(user: &User, shipping: &Shipping) {}

fn main() {
    let user = User {
        phone: "13812348000".into(),
        email: "ada@example.com".into(),
    };
    sign_up(&user, 4111111111111111);
    ship(
        &user,
        &Shipping {
            method: "post",
            zip: "10115",
        },
    );
    assert_eq!(mask(&user.phone).to_string(), "138****8000");
    assert_eq!(hash(&user.email).to_string().len(), 32);
}
