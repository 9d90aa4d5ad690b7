//! Valid forms under a policy, and its explicit exceptions.
#![deny(warnings)]

use observe_runtime::observe;

#[observe(span = "Order.Submit")]
fn submit() {}

#[observe(span = "Payment.Card.Charge", metric(name = "shop_charge_duration_seconds"))]
fn charge() {}

/// Breaks the PascalCase rule, listed in `allow.span_names`.
#[observe(span = "Legacy.checkout_v1")]
fn legacy() {}

/// `region_id` ends in `id`, listed in `allow.label_keys`.
#[observe(span = "Order.Ship", metric = "latency", labels(region_id = "eu"))]
fn ship() {}

/// `card` is sensitive, `payment.card_brand` is listed in
/// `allow.sensitive_keys`.
#[observe(span = "Payment.Authorize", fields(payment.card_brand = brand))]
fn authorize(brand: &str) -> usize {
    brand.len()
}

fn main() {
    submit();
    charge();
    legacy();
    ship();
    authorize("visa");
}
