//! Free functions in every form the signature can take.
#![deny(warnings)]

use std::fmt::Display;

use observe_runtime::observe;

/// Docs stay on the function.
#[observe(span = "Order.Submit")]
pub fn documented(id: u64) -> u64 {
    id + 1
}

#[observe(span = "Order.Count")]
pub(crate) fn crate_visible() -> usize {
    3
}

#[observe(span = "Order.Nothing")]
fn returns_unit() {}

#[observe(span = "Order.Largest")]
fn generic<T, I>(items: I) -> Option<T>
where
    T: Ord + Copy,
    I: IntoIterator<Item = T>,
{
    items.into_iter().max()
}

#[observe(span = "Order.Describe")]
fn generic_impl_trait_argument(value: impl Display) -> String {
    value.to_string()
}

#[observe(span = "Order.Label")]
fn returns_impl_trait(id: u64) -> impl Display {
    format!("order-{id}")
}

#[observe(span = "Order.Check")]
fn early_return(id: u64) -> &'static str {
    if id == 0 {
        return "empty";
    }
    "ok"
}

#[observe(span = "Order.First")]
fn borrowed_argument(ids: &[u64]) -> Option<&u64> {
    ids.first()
}

#[observe(span = "Order.Raw")]
unsafe fn unsafe_fn(ptr: *const u64) -> u64 {
    *ptr
}

#[observe(span = "Order.Ffi")]
extern "C" fn extern_c(id: u64) -> u64 {
    id * 2
}

#[observe(span = "Order.Abort")]
#[allow(dead_code)] // only shows that `-> !` compiles without unreachable-code warnings
fn diverges() -> ! {
    panic!("never called")
}

#[observe(span = "Order.Inner")]
fn inner_attribute() -> u8 {
    #![allow(clippy::identity_op)]
    1 + 0
}

#[observe(span = "Order.Moved")]
fn takes_ownership(names: Vec<String>, mut count: usize) -> usize {
    count += names.len();
    drop(names);
    count
}

fn main() {
    assert_eq!(documented(1), 2);
    assert_eq!(crate_visible(), 3);
    returns_unit();
    assert_eq!(generic(vec![1, 5, 2]), Some(5));
    assert_eq!(generic_impl_trait_argument(7), "7");
    assert_eq!(returns_impl_trait(4).to_string(), "order-4");
    assert_eq!(early_return(0), "empty");
    assert_eq!(early_return(1), "ok");
    assert_eq!(borrowed_argument(&[9]), Some(&9));
    let value = 11;
    // SAFETY: points at a live `u64`.
    assert_eq!(unsafe { unsafe_fn(&value) }, 11);
    assert_eq!(extern_c(2), 4);
    assert_eq!(inner_attribute(), 1);
    assert_eq!(takes_ownership(vec!["a".into()], 1), 2);
}
