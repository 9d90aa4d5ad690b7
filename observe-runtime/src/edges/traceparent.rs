//! The W3C `traceparent` header, parsed by its grammar and written by it.
//!
//! W3C Trace Context (levels 1 and 2), section "Traceparent Header":
//!
//! ```text
//! traceparent = version "-" version-format
//! version     = 2HEXDIGLC   ; "ff" is forbidden
//! version-format (00) = trace-id "-" parent-id "-" trace-flags
//! trace-id    = 32HEXDIGLC  ; not all zeros
//! parent-id   = 16HEXDIGLC  ; not all zeros
//! trace-flags = 2HEXDIGLC
//! HEXDIGLC    = DIGIT / "a" / "b" / "c" / "d" / "e" / "f"
//! ```
//!
//! Every field has an exact length and lowercase hex digits only: a `+`, an
//! uppercase digit, a short or long field is a header to ignore, and the
//! trace restarts ("Processing Model").

use crate::hot::context::{RANDOM, SAMPLED};

/// The longest `traceparent` read at all. Version `00` is exactly 55
/// characters; a later version may append fields, but a header this long is
/// not one a tracer wrote, and nothing longer is parsed.
pub(crate) const MAX_BYTES: usize = 512;

/// The length of version `00`'s header, and of the prefix every later
/// version shares ("Versioning of traceparent").
const V00_LEN: usize = 55;

/// What a valid `traceparent` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub(crate) trace_id: u128,
    pub(crate) parent_id: u64,
    /// The flags this version defines: [`SAMPLED`] and, at level 2,
    /// [`RANDOM`]. "Other Flags": the other bits are reserved, and "Vendors
    /// MUST set those to zero", so they are not kept.
    pub(crate) flags: u8,
}

/// Why a `traceparent` was ignored: the reason it is counted under in
/// `observe_propagation_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Error {
    /// It breaks the grammar above (a field's length or characters, version
    /// `ff`, an all-zero id, something after version `00`'s flags).
    Invalid,
    /// Longer than [`MAX_BYTES`].
    TooLong,
}

impl Error {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Error::Invalid => "traceparent_invalid",
            Error::TooLong => "traceparent_too_long",
        }
    }
}

/// `2HEXDIGLC`, `16HEXDIGLC`, `32HEXDIGLC`: exactly these lowercase digits.
fn hex(field: &[u8]) -> Option<u128> {
    field.iter().try_fold(0_u128, |acc, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u128::from(digit))
    })
}

/// Parses one `traceparent` value. Surrounding optional white space (spaces
/// and tabs, RFC 7230 3.2.3) is allowed, as in every HTTP header value.
pub(crate) fn parse(value: &str) -> Result<TraceParent, Error> {
    if value.len() > MAX_BYTES {
        return Err(Error::TooLong);
    }
    let v = value.trim_matches([' ', '\t']).as_bytes();
    if v.len() < V00_LEN {
        return Err(Error::Invalid);
    }
    let dashes = v[2] == b'-' && v[35] == b'-' && v[52] == b'-';
    let (Some(version), Some(trace_id), Some(parent_id), Some(flags)) = (
        hex(&v[0..2]),
        hex(&v[3..35]),
        hex(&v[36..52]),
        hex(&v[53..55]),
    ) else {
        return Err(Error::Invalid);
    };
    let rest_ok = match version {
        // "version": "Version ff is forbidden".
        0xff => false,
        // Version 00 is exactly its four fields.
        0x00 => v.len() == V00_LEN,
        // "Versioning of traceparent": a later version is read as version
        // 00 if its first 55 characters are, and the next one, if any, is a
        // dash.
        _ => v.len() == V00_LEN || v[V00_LEN] == b'-',
    };
    if !dashes || !rest_ok || trace_id == 0 || parent_id == 0 {
        return Err(Error::Invalid);
    }
    Ok(TraceParent {
        trace_id,
        parent_id: parent_id as u64,
        flags: flags as u8 & (SAMPLED | RANDOM),
    })
}

/// The version `00` header for a span. observe writes version `00` whatever
/// version it received ("Versioning of traceparent": the new header follows
/// "the highest version of the specification known to the implementation").
pub(crate) fn format(trace_id: u128, span_id: u64, flags: u8) -> String {
    format!(
        "00-{trace_id:032x}-{span_id:016x}-{:02x}",
        flags & (SAMPLED | RANDOM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn reads_the_specification_examples() {
        let parent = parse(VALID).unwrap();
        assert_eq!(parent.trace_id, 0x0af7651916cd43dd8448eb211c80319c);
        assert_eq!(parent.parent_id, 0xb7ad6b7169203331);
        assert_eq!(parent.flags, SAMPLED);
        let unsampled = parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
        assert_eq!(unsampled.unwrap().flags, 0);
        assert_eq!(
            format(parent.trace_id, parent.parent_id, parent.flags),
            VALID
        );
    }

    #[test]
    fn keeps_the_random_flag_and_clears_unknown_bits() {
        let with = |flags: &str| parse(&format!("{}{flags}", &VALID[..53])).unwrap().flags;
        assert_eq!(with("03"), SAMPLED | RANDOM);
        assert_eq!(with("02"), RANDOM);
        assert_eq!(with("ff"), SAMPLED | RANDOM);
        assert_eq!(with("04"), 0);
        assert_eq!(
            format(1, 1, 0xff),
            "00-00000000000000000000000000000001-0000000000000001-03"
        );
    }

    #[test]
    fn ows_around_the_value_is_allowed() {
        for ows in [" ", "\t", " \t "] {
            assert!(parse(&format!("{ows}{VALID}")).is_ok());
            assert!(parse(&format!("{VALID}{ows}")).is_ok());
        }
    }

    #[test]
    fn later_versions_are_read_by_their_version_00_prefix() {
        let later = VALID.replacen("00", "cc", 1);
        assert!(parse(&later).is_ok());
        assert!(parse(&format!("{later}-what-the-future-will-be-like")).is_ok());
        assert_eq!(
            parse(&format!("{later}.what-the-future-will-be-like")),
            Err(Error::Invalid)
        );
    }

    #[test]
    fn every_field_has_its_exact_length_and_digits() {
        let tid = "12345678901234567890123456789012";
        let pid = "1234567890123456";
        for bad in [
            // version
            format!("0-{tid}-{pid}-01"),
            format!("000-{tid}-{pid}-01"),
            format!("0000-{tid}-{pid}-01"),
            format!(".0-{tid}-{pid}-01"),
            format!("0.-{tid}-{pid}-01"),
            format!("ff-{tid}-{pid}-01"),
            format!("+0-{tid}-{pid}-01"),
            // trace id
            format!("00-{}-{pid}-01", &tid[1..]),
            format!("00-{tid}3-{pid}-01"),
            format!("00-.{}-{pid}-01", &tid[1..]),
            format!("00-{}.-{pid}-01", &tid[..31]),
            format!("00-+{}-{pid}-01", &tid[1..]),
            format!("00-{}-{pid}-01", tid.to_uppercase().replace('1', "A")),
            format!("00-{}-{pid}-01", "0".repeat(32)),
            // parent id
            format!("00-{tid}-{}-01", &pid[1..]),
            format!("00-{tid}-{pid}7-01"),
            format!("00-{tid}-.{}-01", &pid[1..]),
            format!("00-{tid}-{}-01", "0".repeat(16)),
            format!("00-{tid}-{}A-01", &pid[..15]),
            // flags
            format!("00-{tid}-{pid}-1"),
            format!("00-{tid}-{pid}-001"),
            format!("00-{tid}-{pid}-.0"),
            format!("00-{tid}-{pid}-0."),
            format!("00-{tid}-{pid}-+1"),
            format!("00-{tid}-{pid}-0A"),
            // after version 00's flags
            format!("00-{tid}-{pid}-01."),
            format!("00-{tid}-{pid}-01-"),
            format!("00-{tid}-{pid}-01-what-the-future-will-be-like"),
            // separators
            format!("00_{tid}-{pid}-01"),
            format!("00-{tid}_{pid}-01"),
            "".to_owned(),
            "garbage".to_owned(),
        ] {
            assert_eq!(parse(&bad), Err(Error::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn a_header_over_the_cap_is_not_parsed() {
        let long = format!(
            "{}-{}",
            VALID.replacen("00", "cc", 1),
            "x".repeat(MAX_BYTES)
        );
        assert_eq!(parse(&long), Err(Error::TooLong));
        let spaces = format!("{VALID}{}", " ".repeat(MAX_BYTES));
        assert_eq!(parse(&spaces), Err(Error::TooLong));
    }
}
