//! What the expansion uses to turn field values into attribute values, and a
//! return value into an [`Outcome`].

use std::borrow::Cow;
use std::fmt;

use opentelemetry::Value;

use super::callsite::{short_type_name, ErrorRef, ErrorType, Outcome};

/// Converts a `fields(...)` value into an OpenTelemetry attribute value.
///
/// Implemented for strings, integers, floats and `bool`; anything else is
/// recorded with `%value` (Display) or `?value` (Debug).
pub trait ToAttributeValue {
    /// The attribute value.
    fn to_attribute_value(&self) -> Value;
}

impl<T: ToAttributeValue + ?Sized> ToAttributeValue for &T {
    fn to_attribute_value(&self) -> Value {
        (**self).to_attribute_value()
    }
}

impl ToAttributeValue for str {
    fn to_attribute_value(&self) -> Value {
        Value::String(self.to_owned().into())
    }
}

impl ToAttributeValue for String {
    fn to_attribute_value(&self) -> Value {
        Value::String(self.clone().into())
    }
}

impl ToAttributeValue for Cow<'_, str> {
    fn to_attribute_value(&self) -> Value {
        Value::String(self.to_string().into())
    }
}

impl ToAttributeValue for bool {
    fn to_attribute_value(&self) -> Value {
        Value::Bool(*self)
    }
}

macro_rules! int_attribute {
    ($($t:ty),*) => {$(
        impl ToAttributeValue for $t {
            fn to_attribute_value(&self) -> Value {
                Value::I64(*self as i64)
            }
        }
    )*};
}
int_attribute!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_int_attribute {
    ($($t:ty),*) => {$(
        impl ToAttributeValue for $t {
            fn to_attribute_value(&self) -> Value {
                // OpenTelemetry has no unsigned 64-bit value: keep the exact
                // number as a string rather than wrapping it negative.
                match i64::try_from(*self) {
                    Ok(v) => Value::I64(v),
                    Err(_) => Value::String(self.to_string().into()),
                }
            }
        }
    )*};
}
wide_int_attribute!(u64, usize, isize, i128, u128);

impl ToAttributeValue for f32 {
    fn to_attribute_value(&self) -> Value {
        Value::F64(f64::from(*self))
    }
}

impl ToAttributeValue for f64 {
    fn to_attribute_value(&self) -> Value {
        Value::F64(*self)
    }
}

/// `fields(key = value)`.
#[inline]
pub fn attribute_value<T: ToAttributeValue + ?Sized>(value: &T) -> Value {
    value.to_attribute_value()
}

/// `fields(key = %value)`.
pub fn display_value<T: fmt::Display + ?Sized>(value: &T) -> Value {
    Value::String(value.to_string().into())
}

/// `fields(key = ?value)`.
pub fn debug_value<T: fmt::Debug + ?Sized>(value: &T) -> Value {
    Value::String(format!("{value:?}").into())
}

/// Autoref-specialised classification of a return value, so that `Result`
/// through any alias (`io::Result<T>`, `anyhow::Result<T>`) is recognised by
/// its type rather than its spelling. The macro calls
/// `(&&&Classify(&value)).__observe_outcome()`; method resolution picks the
/// most specific impl that applies:
///
/// 1. `Result<T, E>` with `E: ErrorType + Display`: the user's `error.type`;
/// 2. `Result<T, E>` with `E: Display`: the short name of `E`;
/// 3. `Result<T, E>` with `E: Debug`: the short name of `E`, Debug message;
/// 4. anything else: success.
pub struct Classify<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> Clone for Classify<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

// Copy, so the by-value fallback can be reached through auto-deref.
impl<T: ?Sized> Copy for Classify<'_, T> {}

#[doc(hidden)]
pub trait ClassifyErrorType {
    fn __observe_outcome(&self) -> Outcome<'_>;
}
#[doc(hidden)]
pub trait ClassifyDisplay {
    fn __observe_outcome(&self) -> Outcome<'_>;
}
#[doc(hidden)]
pub trait ClassifyDebug {
    fn __observe_outcome(&self) -> Outcome<'_>;
}
#[doc(hidden)]
pub trait ClassifyOther {
    fn __observe_outcome(self) -> Outcome<'static>;
}

impl<T, E: ErrorType + fmt::Display> ClassifyErrorType for &&Classify<'_, Result<T, E>> {
    #[inline]
    fn __observe_outcome(&self) -> Outcome<'_> {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Err {
                error_type: e.error_type(),
                error: ErrorRef::Display(e),
            },
        }
    }
}

impl<T, E: fmt::Display> ClassifyDisplay for &Classify<'_, Result<T, E>> {
    #[inline]
    fn __observe_outcome(&self) -> Outcome<'_> {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Err {
                error_type: short_type_name(std::any::type_name::<E>()),
                error: ErrorRef::Display(e),
            },
        }
    }
}

impl<T, E: fmt::Debug> ClassifyDebug for Classify<'_, Result<T, E>> {
    #[inline]
    fn __observe_outcome(&self) -> Outcome<'_> {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Err {
                error_type: short_type_name(std::any::type_name::<E>()),
                error: ErrorRef::Debug(e),
            },
        }
    }
}

impl<T: ?Sized> ClassifyOther for Classify<'_, T> {
    #[inline]
    fn __observe_outcome(self) -> Outcome<'static> {
        Outcome::Ok
    }
}

/// Classifies a return value; see [`Classify`].
#[doc(hidden)]
#[macro_export]
macro_rules! __observe_outcome {
    ($value:expr) => {{
        #[allow(unused_imports)] // only the impl that applies is used
        use $crate::__private::{
            ClassifyDebug as _, ClassifyDisplay as _, ClassifyErrorType as _, ClassifyOther as _,
        };
        (&&&$crate::__private::Classify($value)).__observe_outcome()
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Plain;

    #[derive(Debug)]
    enum Domain {
        Validation,
    }
    impl fmt::Display for Domain {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("invalid order")
        }
    }
    impl ErrorType for Domain {
        fn error_type(&self) -> &'static str {
            match self {
                Domain::Validation => "validation",
            }
        }
    }

    fn kind(outcome: Outcome<'_>) -> (bool, &'static str, String) {
        match outcome {
            Outcome::Ok => (true, "", String::new()),
            Outcome::Err { error_type, error } => (false, error_type, error.to_string()),
        }
    }

    #[test]
    fn classifies_results_through_aliases() {
        let io: std::io::Result<u8> = Err(std::io::Error::other("disk full"));
        assert_eq!(
            kind(crate::__observe_outcome!(&io)),
            (false, "Error", "disk full".into())
        );

        let ok: std::io::Result<u8> = Ok(1);
        assert!(kind(crate::__observe_outcome!(&ok)).0);

        let domain: Result<(), Domain> = Err(Domain::Validation);
        assert_eq!(
            kind(crate::__observe_outcome!(&domain)),
            (false, "validation", "invalid order".into())
        );

        let debug_only: Result<(), Plain> = Err(Plain);
        assert_eq!(
            kind(crate::__observe_outcome!(&debug_only)),
            (false, "Plain", "Plain".into())
        );

        let plain = 5_u32;
        assert!(kind(crate::__observe_outcome!(&plain)).0);
    }

    #[test]
    fn short_names() {
        assert_eq!(short_type_name("checkout::OrderError"), "OrderError");
        assert_eq!(short_type_name("a::Wrapper<b::Inner>"), "Wrapper");
        assert_eq!(short_type_name("Bare"), "Bare");
    }
}
