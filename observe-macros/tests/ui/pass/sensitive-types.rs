//! Marked types reach a span only through `mask(..)` or `hash(..)`; a
//! struct that holds one records by `Debug` with the field redacted.
#![deny(warnings)]

use observe_runtime::pii::{Email, IpAddress, Phone};
use observe_runtime::{hash, mask, observe, Sensitive};

#[derive(Clone, Sensitive)]
pub struct Msisdn(String);

#[derive(Sensitive)]
pub struct Passport {
    pub number: String,
}

#[derive(Debug)]
pub struct Customer {
    pub email: Email,
    pub tier: u8,
}

#[observe(
    span = "Customer.Notify",
    fields(
        customer = ?customer,
        target = mask(&customer.email),
        line = hash(&number),
        client = mask(&ip),
        passport = hash(&passport),
        phone.known = !phone.expose().is_empty(),
    )
)]
pub fn notify(customer: &Customer, number: &Msisdn, ip: IpAddress, passport: &Passport, phone: &Phone) {}

fn main() {
    let customer = Customer {
        email: Email::new("ada@example.com"),
        tier: 1,
    };
    assert_eq!(
        format!("{customer:?}"),
        "Customer { email: [REDACTED], tier: 1 }"
    );
    notify(
        &customer,
        &Msisdn("+8613812348000".into()),
        IpAddress::new([192, 0, 2, 1]),
        &Passport { number: "X1234567".into() },
        &Phone::new("13812348000"),
    );
}
