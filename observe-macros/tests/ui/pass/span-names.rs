//! Valid span names around the rules: 2 to 4 PascalCase segments, digits
//! inside segments, acronyms.
#![deny(warnings)]

use observe_runtime::observe;

#[observe(span = "Order.Submit")]
fn two_segments() {}

#[observe(span = "Payment.OrderService.CreateOrder")]
fn three_segments() {}

#[observe(span = "Shop.Payment.OrderService.CreateOrder")]
fn four_segments() {}

#[observe(span = "Api.V2.Orders")]
fn digits_inside() {}

#[observe(span = "OAuth2.Token2Fa")]
fn digits_and_capitals() {}

#[observe(span = "HTTP.Get")]
fn acronym() {}

#[observe(
    span = "Order.Submit",
    fields(order.id = 1, http.response.status_code = 200, v2.item_count = 3, "retry.count" = 0)
)]
fn keys() {}

fn main() {
    two_segments();
    three_segments();
    four_segments();
    digits_inside();
    digits_and_capitals();
    acronym();
    keys();
}
