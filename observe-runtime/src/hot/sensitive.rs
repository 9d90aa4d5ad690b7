//! Sensitivity by type: a value of a type marked [`Sensitive`] is personal
//! data wherever it goes, whatever it is called.
//!
//! - In `#[observe(fields(..))]` it is a compile error, pointing at the
//!   expression, unless it goes through [`mask`](crate::mask) or
//!   [`hash`](crate::hash).
//! - Its `Debug` and `Display` print `[REDACTED]`, so `?customer` of a struct
//!   that holds one, a `tracing` event's `%email`, a panic message or a
//!   generic `T: Display` recorded somewhere observe cannot see at compile
//!   time all show `[REDACTED]`, never the value.
//! - [`mask`](crate::mask) and [`hash`](crate::hash) read the raw text
//!   through [`RawText`], which marked types implement.
//!
//! Mark a domain type once, where it is defined:
//!
//! ```
//! use observe_runtime::{mask, observe, Sensitive};
//!
//! #[derive(Clone, Sensitive)]
//! struct Email(String);
//!
//! #[derive(Debug)]
//! struct Customer {
//!     email: Email,
//!     tier: u8,
//! }
//!
//! #[observe(span = "Customer.Notify", fields(customer = ?customer, contact = mask(&customer.email)))]
//! fn notify(customer: &Customer) {}
//!
//! let customer = Customer { email: Email("ada@example.com".into()), tier: 2 };
//! assert_eq!(format!("{customer:?}"), "Customer { email: [REDACTED], tier: 2 }");
//! assert_eq!(mask(&customer.email).to_string(), "a***@example.com");
//! ```
//!
//! Recording it raw does not compile:
//!
//! ```compile_fail
//! # use observe_runtime::{observe, Sensitive};
//! # #[derive(Sensitive)]
//! # struct Email(String);
//! #[observe(span = "Customer.Notify", fields(contact = %email))]
//! fn notify(email: &Email) {}
//! ```
//!
//! observe ships marked types for common personal data: [`Email`],
//! [`Phone`], [`CardNumber`], [`Iban`] and [`IpAddress`].

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

/// The text shown in place of a marked value.
pub const REDACTED: &str = "[REDACTED]";

/// Marks a type whose values are personal data. Derive it
/// (`#[derive(Sensitive)]` on a struct of one field): the derive also writes
/// `Debug` and `Display` that print `[REDACTED]`, and [`RawText`] for
/// [`mask`](crate::mask) and [`hash`](crate::hash). Do not derive or write
/// `Debug` or `Display` yourself; read the value through the field.
///
/// References, `Box`, `Rc`, `Arc`, `Option`, `Vec`, slices and arrays of a
/// marked type are marked too.
pub trait Sensitive {}

impl<T: Sensitive + ?Sized> Sensitive for &T {}
impl<T: Sensitive + ?Sized> Sensitive for &mut T {}
impl<T: Sensitive + ?Sized> Sensitive for Box<T> {}
impl<T: Sensitive + ?Sized> Sensitive for Rc<T> {}
impl<T: Sensitive + ?Sized> Sensitive for Arc<T> {}
impl<T: Sensitive> Sensitive for Option<T> {}
impl<T: Sensitive> Sensitive for Vec<T> {}
impl<T: Sensitive> Sensitive for [T] {}
impl<T: Sensitive, const N: usize> Sensitive for [T; N] {}

/// The raw text [`mask`](crate::mask) and [`hash`](crate::hash) work on:
/// strings, numbers, IP addresses, and every type marked [`Sensitive`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no text `mask` or `hash` can read",
    label = "not a string, a number, an IP address or a type marked `Sensitive`",
    note = "pass its text (`mask(&value.to_string())`), or mark the type with `#[derive(observe_runtime::Sensitive)]`"
)]
pub trait RawText {
    /// The value's raw text.
    fn raw_text(&self) -> Cow<'_, str>;
}

impl<T: RawText + ?Sized> RawText for &T {
    fn raw_text(&self) -> Cow<'_, str> {
        (**self).raw_text()
    }
}

impl<T: RawText + ?Sized> RawText for Box<T> {
    fn raw_text(&self) -> Cow<'_, str> {
        (**self).raw_text()
    }
}

impl<T: RawText + ?Sized> RawText for Rc<T> {
    fn raw_text(&self) -> Cow<'_, str> {
        (**self).raw_text()
    }
}

impl<T: RawText + ?Sized> RawText for Arc<T> {
    fn raw_text(&self) -> Cow<'_, str> {
        (**self).raw_text()
    }
}

impl RawText for str {
    fn raw_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl RawText for String {
    fn raw_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl RawText for Cow<'_, str> {
    fn raw_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

macro_rules! raw_text_by_display {
    ($($ty:ty),*) => {$(
        impl RawText for $ty {
            fn raw_text(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}

raw_text_by_display!(
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    IpAddr,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
    std::net::SocketAddr
);

/// Writes `[REDACTED]`; what the derive's `Debug` and `Display` call.
#[doc(hidden)]
pub fn fmt_redacted(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(REDACTED)
}

macro_rules! shipped {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($inner);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<$inner>) -> $name {
                $name(value.into())
            }

            /// The raw value, for the code that needs it (sending the mail,
            /// charging the card); never for telemetry.
            pub fn expose(&self) -> &$inner {
                &self.0
            }

            /// The raw value, unwrapped.
            pub fn into_inner(self) -> $inner {
                self.0
            }
        }

        impl Sensitive for $name {}

        impl RawText for $name {
            fn raw_text(&self) -> Cow<'_, str> {
                self.0.raw_text()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_redacted(f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_redacted(f)
            }
        }

        impl From<$inner> for $name {
            fn from(value: $inner) -> $name {
                $name(value)
            }
        }
    };
}

shipped!(
    /// An email address: `mask` keeps the first letter and the domain
    /// (`a***@example.com`).
    Email(String)
);
shipped!(
    /// A phone number: `mask` keeps the first three and last four digits
    /// (`138****8000`).
    Phone(String)
);
shipped!(
    /// A payment card number (PAN): `mask` keeps the first three and last
    /// four digits; prefer `hash`, or nothing.
    CardNumber(String)
);
shipped!(
    /// An IBAN.
    Iban(String)
);
shipped!(
    /// A client's IP address.
    IpAddress(IpAddr)
);

/// What `#[observe(fields(..))]` checks a value with, by autoref
/// specialisation: `(&Probe(&value)).__observe_sensitivity()` gives
/// [`Marked`] for a type known to be [`Sensitive`], [`Unmarked`] otherwise,
/// and [`not_sensitive`] accepts only the latter.
#[doc(hidden)]
pub struct Probe<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub struct Marked;

#[doc(hidden)]
pub struct Unmarked;

#[doc(hidden)]
pub trait ProbeMarked {
    fn __observe_sensitivity(&self) -> Marked {
        Marked
    }
}

impl<T: Sensitive + ?Sized> ProbeMarked for Probe<'_, T> {}

#[doc(hidden)]
pub trait ProbeUnmarked {
    fn __observe_sensitivity(&self) -> Unmarked {
        Unmarked
    }
}

impl<T: ?Sized> ProbeUnmarked for &Probe<'_, T> {}

/// Values that may be recorded as they are.
#[diagnostic::on_unimplemented(
    message = "this value is personal data: its type is marked `Sensitive`",
    label = "recorded raw here",
    note = "record `observe_runtime::mask(&value)` to keep its shape, or `observe_runtime::hash(&value)` to keep it joinable"
)]
#[doc(hidden)]
pub trait Recordable {}

impl Recordable for Unmarked {}

#[doc(hidden)]
#[inline(always)]
pub fn not_sensitive<R: Recordable>(_: R) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_values_print_redacted() {
        let email = Email::new("ada@example.com");
        assert_eq!(email.to_string(), REDACTED);
        assert_eq!(format!("{email:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&email)), "Some([REDACTED])");
        assert_eq!(email.raw_text(), "ada@example.com");
        assert_eq!(email.expose(), "ada@example.com");
        let ip = IpAddress::new([192, 0, 2, 1]);
        assert_eq!(ip.raw_text(), "192.0.2.1");
    }
}
