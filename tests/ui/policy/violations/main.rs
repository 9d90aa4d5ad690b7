//! Every rule the policy adds, broken once.
use observe_runtime::observe;

#[observe(span = "Shipping.Send")]
fn send() {}

#[observe(span = "Order.Service.Submit.Now")]
fn submit_now() {}

#[observe(span = "Order.Charge", metric(name = "charge_duration_seconds"))]
fn charge() {}

#[observe(span = "Order.Load", metric = "latency", labels(tenant = "acme"))]
fn load() {}

#[observe(span = "Payment.Refund", fields(account.iban = iban))]
fn refund(iban: &str) -> usize {
    iban.len()
}

fn main() {
    send();
    submit_now();
    charge();
    load();
    refund("DE00");
}
