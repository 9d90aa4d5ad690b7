//! Metric label values from closed sets.
//!
//! `labels(payment.method = method)` adds a dimension to the latency
//! histogram; each distinct value is a new time series, so the values must
//! come from a set fixed at compile time: a string literal, a `bool`, or an
//! enum deriving [`LabelValue`](derive@crate::LabelValue):
//!
//! ```
//! use observe_runtime::{observe, LabelValue};
//!
//! #[derive(LabelValue)]
//! enum PaymentMethod {
//!     Card,                       // "card"
//!     BankTransfer,               // "bank_transfer"
//!     #[label(rename = "wallet")]
//!     ApplePay,
//! }
//!
//! #[observe(span = "Payment.Charge", metric = "latency",
//!           labels(payment.method = method, payment.provider = "stripe"))]
//! fn charge(method: PaymentMethod) {}
//!
//! assert_eq!(PaymentMethod::VALUES, ["card", "bank_transfer", "wallet"]);
//! assert_eq!(PaymentMethod::ApplePay.label_value(), "wallet");
//! ```

/// A type whose values form a small closed set, usable as a metric label.
///
/// Derive it on a fieldless enum: each variant's value is its name in
/// snake_case, or `#[label(rename = "...")]`. Implemented for `bool`
/// (`"false"`, `"true"`).
///
/// Implementing it by hand, `label_index` must return a position in
/// `VALUES`; the histogram uses it to find the series without hashing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a closed set of label values",
    label = "not a `LabelValue`",
    note = "a label value is a string literal, a `bool`, or an enum with `#[derive(observe_runtime::LabelValue)]`",
    note = "an unbounded value (an id, a name, a number) belongs on the span: put it in `fields(...)` instead"
)]
pub trait LabelValue {
    /// Every value, in index order.
    const VALUES: &'static [&'static str];

    /// This value's position in [`VALUES`](Self::VALUES).
    fn label_index(&self) -> usize;

    /// This value as it appears in the label.
    fn label_value(&self) -> &'static str {
        Self::VALUES[self.label_index()]
    }
}

impl LabelValue for bool {
    const VALUES: &'static [&'static str] = &["false", "true"];

    fn label_index(&self) -> usize {
        usize::from(*self)
    }
}

impl<T: LabelValue + ?Sized> LabelValue for &T {
    const VALUES: &'static [&'static str] = T::VALUES;

    fn label_index(&self) -> usize {
        (**self).label_index()
    }
}

/// One label of one call: the value's index and the set it indexes.
#[doc(hidden)]
pub type LabelSlot = (usize, &'static [&'static str]);

/// `labels(key = value)`: the value's index and its type's value set.
#[doc(hidden)]
#[inline]
pub fn label_slot<T: LabelValue + ?Sized>(value: &T) -> LabelSlot {
    (value.label_index(), T::VALUES)
}
