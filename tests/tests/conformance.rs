//! W3C Trace Context (levels 1 and 2) and W3C Baggage, rule by rule, over
//! every carrier observe reads: `HashMap<String, String>`, `http::HeaderMap`
//! (with repeated header lines), lapin's `FieldTable`, async-nats's
//! `HeaderMap` and rdkafka's `OwnedHeaders`.
//!
//! Each case names the section of the specification it checks. Its headers
//! are put into each carrier, read back with the carrier's extraction, and
//! continued in an observed client span (the runtime is on, so the flags
//! come from its sampler, parent-based and always-on by default). That
//! span writes its headers into a fresh carrier of the same kind, and the
//! case asserts on those: whether the trace was continued or restarted, the
//! flags, the `tracestate` and the `baggage` that go on, and the
//! `observe_propagation_errors_total` reason that counted what was dropped.
//!
//! Maps that hold one value per key (`HashMap`, `FieldTable`) carry a
//! repeated header under differently cased names, as a gateway that
//! preserves case would deliver it; the others carry the repeats as they are.
//! A carrier that cannot hold a case's bytes at all (a control character in
//! an `http::HeaderValue`) skips that case, and says so.

use std::collections::HashMap;
use std::sync::OnceLock;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use observe_runtime::baggage::Baggage;
use observe_runtime::messaging::Carrier;
use observe_runtime::propagation::{self, carriers, Remote};
use observe_runtime::{observe, SpanContext};
use rdkafka::message::{Header, Headers, OwnedHeaders};

const TRACE_ID: &str = "12345678901234567890123456789012";
const PARENT_ID: &str = "1234567890123456";
const TP: &str = "00-12345678901234567890123456789012-1234567890123456-01";
const TP_UNSAMPLED: &str = "00-12345678901234567890123456789012-1234567890123456-00";

fn runtime() {
    static ON: OnceLock<()> = OnceLock::new();
    ON.get_or_init(|| {
        let (_exporter, guard) = observe_tests::init_in_memory("conformance-test");
        // The runtime stays on for the whole test binary.
        std::mem::forget(guard);
    });
}

/// What the observed span that continues the message sends on.
#[derive(Debug)]
struct Expect {
    /// `true`: the incoming trace id goes on with a new parent id;
    /// `false`: a new trace (neither the incoming id nor all zeros).
    continued: bool,
    /// The outgoing `trace-flags`.
    flags: &'static str,
    /// The outgoing `tracestate`, or none.
    tracestate: Option<String>,
    /// The outgoing `baggage`, or none.
    baggage: Option<String>,
    /// The reasons this message is counted under, once per entry.
    counted: Vec<&'static str>,
}

struct Case {
    spec: &'static str,
    headers: Vec<(String, String)>,
    expect: Expect,
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn continued(flags: &'static str) -> Expect {
    Expect {
        continued: true,
        flags,
        tracestate: None,
        baggage: None,
        counted: Vec::new(),
    }
}

/// A new root trace: observe sets the random flag on its own traces.
fn restarted(counted: Option<&'static str>) -> Expect {
    Expect {
        continued: false,
        flags: "03",
        tracestate: None,
        baggage: None,
        counted: counted.into_iter().collect(),
    }
}

impl Expect {
    fn tracestate(mut self, value: &str) -> Expect {
        self.tracestate = Some(value.to_owned());
        self
    }

    fn baggage(mut self, value: &str) -> Expect {
        self.baggage = Some(value.to_owned());
        self
    }

    fn counted(mut self, reason: &'static str) -> Expect {
        self.counted.push(reason);
        self
    }
}

fn case(spec: &'static str, pairs: &[(&str, &str)], expect: Expect) -> Case {
    Case {
        spec,
        headers: headers(pairs),
        expect,
    }
}

fn traceparent_cases() -> Vec<Case> {
    let with = |version: &str, trace_id: &str, parent_id: &str, flags: &str| {
        format!("{version}-{trace_id}-{parent_id}-{flags}")
    };
    let mut cases = vec![
        case(
            "Trace Context, Examples of HTTP traceparent Headers: sampled",
            &[("traceparent", TP)],
            continued("01"),
        ),
        case(
            "Trace Context, Examples of HTTP traceparent Headers: not sampled",
            &[("traceparent", TP_UNSAMPLED)],
            continued("00"),
        ),
        case(
            "Trace Context, Processing Model: no traceparent starts a new trace",
            &[],
            restarted(None),
        ),
    ];
    for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        cases.push(case(
            "Trace Context, traceparent Header Name: any case",
            &[(name, TP)],
            continued("01"),
        ));
    }
    for name in ["trace-parent", "trace.parent", "traceparent1"] {
        cases.push(case(
            "Trace Context, traceparent Header Name: a single word",
            &[(name, TP)],
            restarted(None),
        ));
    }
    for ows in [" ", "\t", " \t "] {
        cases.push(case(
            "Trace Context, traceparent Header Field Values: OWS around the value",
            &[("traceparent", &format!("{ows}{TP}"))],
            continued("01"),
        ));
        cases.push(case(
            "Trace Context, traceparent Header Field Values: OWS around the value",
            &[("traceparent", &format!("{TP}{ows}"))],
            continued("01"),
        ));
    }
    let invalid: Vec<(&'static str, String)> = vec![
        (
            "version: 2HEXDIGLC, one digit",
            with("0", TRACE_ID, PARENT_ID, "01"),
        ),
        (
            "version: 2HEXDIGLC, three digits",
            with("000", TRACE_ID, PARENT_ID, "01"),
        ),
        (
            "version: 2HEXDIGLC, four digits",
            with("0000", TRACE_ID, PARENT_ID, "01"),
        ),
        (
            "version: 2HEXDIGLC, not hex",
            with(".0", TRACE_ID, PARENT_ID, "01"),
        ),
        (
            "version: 2HEXDIGLC, not hex",
            with("0.", TRACE_ID, PARENT_ID, "01"),
        ),
        (
            "version: 2HEXDIGLC, a sign",
            with("+0", TRACE_ID, PARENT_ID, "01"),
        ),
        (
            "version: 2HEXDIGLC, uppercase",
            with("0A", TRACE_ID, PARENT_ID, "01"),
        ),
        (
            "version: ff is forbidden",
            with("ff", TRACE_ID, PARENT_ID, "01"),
        ),
        (
            "trace-id: 32HEXDIGLC, 31 digits",
            with("00", &TRACE_ID[1..], PARENT_ID, "01"),
        ),
        (
            "trace-id: 32HEXDIGLC, 33 digits",
            with("00", &format!("{TRACE_ID}3"), PARENT_ID, "01"),
        ),
        (
            "trace-id: 32HEXDIGLC, not hex",
            with("00", &format!(".{}", &TRACE_ID[1..]), PARENT_ID, "01"),
        ),
        (
            "trace-id: 32HEXDIGLC, not hex",
            with("00", &format!("{}.", &TRACE_ID[..31]), PARENT_ID, "01"),
        ),
        (
            "trace-id: 32HEXDIGLC, a sign",
            with("00", &format!("+{}", &TRACE_ID[1..]), PARENT_ID, "01"),
        ),
        (
            "trace-id: 32HEXDIGLC, uppercase",
            with("00", "4BF92F3577B34DA6A3CE929D0E0E4736", PARENT_ID, "01"),
        ),
        (
            "trace-id: all zeroes forbidden",
            with("00", &"0".repeat(32), PARENT_ID, "01"),
        ),
        (
            "parent-id: 16HEXDIGLC, 15 digits",
            with("00", TRACE_ID, &PARENT_ID[1..], "01"),
        ),
        (
            "parent-id: 16HEXDIGLC, 17 digits",
            with("00", TRACE_ID, &format!("{PARENT_ID}7"), "01"),
        ),
        (
            "parent-id: 16HEXDIGLC, not hex",
            with("00", TRACE_ID, &format!(".{}", &PARENT_ID[1..]), "01"),
        ),
        (
            "parent-id: 16HEXDIGLC, a sign",
            with("00", TRACE_ID, &format!("+{}", &PARENT_ID[1..]), "01"),
        ),
        (
            "parent-id: 16HEXDIGLC, uppercase",
            with("00", TRACE_ID, "00F067AA0BA902B7", "01"),
        ),
        (
            "parent-id: all zeroes forbidden",
            with("00", TRACE_ID, &"0".repeat(16), "01"),
        ),
        (
            "trace-flags: 2HEXDIGLC, one digit",
            with("00", TRACE_ID, PARENT_ID, "1"),
        ),
        (
            "trace-flags: 2HEXDIGLC, three digits",
            with("00", TRACE_ID, PARENT_ID, "001"),
        ),
        (
            "trace-flags: 2HEXDIGLC, not hex",
            with("00", TRACE_ID, PARENT_ID, ".0"),
        ),
        (
            "trace-flags: 2HEXDIGLC, a sign",
            with("00", TRACE_ID, PARENT_ID, "+1"),
        ),
        (
            "trace-flags: 2HEXDIGLC, uppercase",
            with("00", TRACE_ID, PARENT_ID, "0A"),
        ),
        (
            "version-format: version 00 ends after trace-flags",
            format!("{TP}."),
        ),
        (
            "version-format: version 00 ends after trace-flags",
            format!("{TP}-"),
        ),
        (
            "version-format: version 00 ends after trace-flags",
            format!("{TP}-what-the-future-will-be-like"),
        ),
        (
            "value: fields separated by dashes",
            TP.replacen('-', "_", 1),
        ),
        ("value: nothing but garbage", "garbage".to_owned()),
        ("value: empty", String::new()),
    ];
    for (rule, value) in invalid {
        let spec: &'static str = Box::leak(format!("Trace Context, {rule}").into_boxed_str());
        cases.push(case(
            spec,
            &[("traceparent", &value)],
            restarted(Some("traceparent_invalid")),
        ));
    }
    let future = TP.replacen("00", "cc", 1);
    for value in [
        future.clone(),
        format!("{future}-what-the-future-will-be-like"),
    ] {
        cases.push(case(
            "Trace Context, Versioning of traceparent: a higher version is read by its version-00 fields, and 00 goes out",
            &[("traceparent", &value)],
            continued("01"),
        ));
    }
    cases.push(case(
        "Trace Context, Versioning of traceparent: after a higher version's flags, a dash or the end",
        &[("traceparent", &format!("{future}.what-the-future-will-be-like"))],
        restarted(Some("traceparent_invalid")),
    ));
    cases.push(case(
        "Trace Context, Versioning of traceparent: shorter than 55 characters",
        &[("traceparent", &future[..54])],
        restarted(Some("traceparent_invalid")),
    ));
    cases.push(case(
        "Trace Context, Versioning of traceparent: only prohibitively large headers are refused",
        &[("traceparent", &format!("{future}-{}", "x".repeat(4096)))],
        restarted(Some("traceparent_too_long")),
    ));
    cases.push(case(
        "Trace Context, traceparent Header: one header; two make the context invalid",
        &[("traceparent", TP), ("traceparent", TP)],
        restarted(Some("traceparent_repeated")),
    ));
    cases.push(case(
        "Trace Context, traceparent Header: one header; two make the context invalid",
        &[
            ("traceparent", TP),
            ("traceparent", &TP.replace("9012-", "9011-")),
        ],
        restarted(Some("traceparent_repeated")),
    ));
    for (incoming, out) in [("02", "02"), ("03", "03"), ("00", "00"), ("01", "01")] {
        cases.push(case(
            "Trace Context level 2, Random Trace ID Flag: propagated unchanged in the trace",
            &[("traceparent", &with("00", TRACE_ID, PARENT_ID, incoming))],
            continued(out),
        ));
    }
    for (incoming, out) in [("05", "01"), ("ff", "03"), ("fc", "00"), ("f1", "01")] {
        cases.push(case(
            "Trace Context, Other Flags: vendors MUST set those to zero",
            &[("traceparent", &with("00", TRACE_ID, PARENT_ID, incoming))],
            continued(out),
        ));
    }
    cases
}

fn tracestate_cases() -> Vec<Case> {
    let tp = ("traceparent", TP_UNSAMPLED);
    let kept = |value: &str| continued("00").tracestate(value);
    let dropped = |reason: &'static str| continued("00").counted(reason);
    let simple = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let tenant = format!("{simple}@a-z0-9_-*/");
    let all_chars: String = (0x20_u8..=0x7e)
        .filter(|&b| b != b',' && b != b'=')
        .map(char::from)
        .collect();
    let members =
        |n: usize| -> Vec<String> { (1..=n).map(|i| format!("bar{i:02}={i:02}")).collect() };
    let in_headers = |members: &[String]| -> Vec<(String, String)> {
        let mut out = vec![(tp.0.to_owned(), tp.1.to_owned())];
        for chunk in members.chunks(10) {
            out.push(("tracestate".to_owned(), chunk.join(",")));
        }
        out
    };
    let mut cases =
        vec![
        case(
            "Trace Context, Relationship Between the Headers: tracestate goes on with traceparent",
            &[tp, ("tracestate", "foo=1,bar=2")],
            kept("foo=1,bar=2"),
        ),
        case(
            "Trace Context, Examples of tracestate HTTP Headers",
            &[tp, ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")],
            kept("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        ),
        case(
            "Trace Context, Tracestate Header: not read without a traceparent",
            &[("tracestate", "foo=1,bar=2")],
            restarted(None),
        ),
        case(
            "Trace Context, Tracestate Header: not read when the traceparent fails to parse",
            &[("traceparent", "00-1-2-01"), ("tracestate", "FOO=1")],
            restarted(Some("traceparent_invalid")),
        ),
        case(
            "Trace Context, tracestate Header Field Values: an empty header is accepted, not sent",
            &[tp, ("tracestate", "")],
            continued("00"),
        ),
        case(
            "Trace Context, tracestate Header Field Values: empty members are allowed",
            &[tp, ("tracestate", "foo=1"), ("tracestate", "")],
            kept("foo=1"),
        ),
        case(
            "Trace Context, tracestate Header Field Values: empty members are allowed",
            &[tp, ("tracestate", ""), ("tracestate", "foo=1")],
            kept("foo=1"),
        ),
        case(
            "Trace Context, tracestate Header Field Values: empty members are allowed",
            &[tp, ("tracestate", " , foo=1,, ,bar=2 ,")],
            kept("foo=1,bar=2"),
        ),
        case(
            "Trace Context, tracestate Header Field Values: multiple headers are combined in order",
            &[
                tp,
                ("tracestate", "foo=1,bar=2"),
                ("tracestate", "rojo=1,congo=2"),
                ("tracestate", "baz=3"),
            ],
            kept("foo=1,bar=2,rojo=1,congo=2,baz=3"),
        ),
        case(
            "Trace Context, tracestate Header Field Values: OWS around members is ignored",
            &[tp, ("tracestate", "foo=1 \t , \t bar=2, \t baz=3")],
            kept("foo=1,bar=2,baz=3"),
        ),
        case(
            "Trace Context, tracestate Header Field Values: OWS around members is ignored",
            &[tp, ("tracestate", "\t foo=1 \t")],
            kept("foo=1"),
        ),
        case(
            "Trace Context, Combined Header Value: only one entry per key",
            &[tp, ("tracestate", "foo=1,foo=1")],
            dropped("tracestate_duplicate_key"),
        ),
        case(
            "Trace Context, Combined Header Value: only one entry per key",
            &[tp, ("tracestate", "foo=1"), ("tracestate", "foo=2")],
            dropped("tracestate_duplicate_key"),
        ),
        case(
            "Trace Context, Key: the simple form, every character allowed",
            &[tp, ("tracestate", &format!("{simple}={all_chars}"))],
            kept(&format!("{simple}={all_chars}")),
        ),
        case(
            "Trace Context, Key: the multi-tenant form, every character allowed",
            &[tp, ("tracestate", &format!("{tenant}={all_chars}"))],
            kept(&format!("{tenant}={all_chars}")),
        ),
        case(
            "Trace Context, Key: a tenant id may begin with a digit",
            &[tp, ("tracestate", "0tenant@vendor=1")],
            kept("0tenant@vendor=1"),
        ),
        case(
            "Trace Context, Key: a simple key of 256 characters",
            &[tp, ("tracestate", "foo=1"), ("tracestate", &format!("{}=1", "z".repeat(256)))],
            kept(&format!("foo=1,{}=1", "z".repeat(256))),
        ),
        case(
            "Trace Context, Key: a tenant id of 241 and a system id of 14",
            &[
                tp,
                ("tracestate", "foo=1"),
                ("tracestate", &format!("{}@{}=1", "t".repeat(241), "v".repeat(14))),
            ],
            kept(&format!("foo=1,{}@{}=1", "t".repeat(241), "v".repeat(14))),
        ),
        case(
            "Trace Context, Value: up to 256 characters",
            &[tp, ("tracestate", &format!("k={}", "v".repeat(256)))],
            kept(&format!("k={}", "v".repeat(256))),
        ),
        case(
            "Trace Context, Value: leading spaces are part of the value",
            &[tp, ("tracestate", "k=  v")],
            kept("k=  v"),
        ),
        case(
            "Trace Context, tracestate Header Field Values: at most 32 list members",
            &[],
            kept(&members(32).join(",")),
        ),
        case(
            "Trace Context, tracestate Header Field Values: at most 32 list members",
            &[],
            dropped("tracestate_limit"),
        ),
    ];
    // The two member-count cases above take their headers from here.
    let at = cases.len() - 2;
    cases[at].headers = in_headers(&members(32));
    cases[at + 1].headers = in_headers(&members(33));
    for (rule, value) in [
        ("Key: no space inside", "foo =1".to_owned()),
        ("Key: lowercase only", "FOO=1".to_owned()),
        ("Key: no dot", "foo.bar=1".to_owned()),
        (
            "Key: a simple key begins with a letter",
            "1foo=1".to_owned(),
        ),
        (
            "Key: a simple key of 257 characters",
            format!("{}=1", "z".repeat(257)),
        ),
        (
            "Key: a tenant id of 242",
            format!("{}@v=1", "t".repeat(242)),
        ),
        ("Key: a system id of 15", format!("t@{}=1", "v".repeat(15))),
        ("Key: a system id begins with a letter", "t@0v=1".to_owned()),
        ("Key: no empty system id", "foo@=1,bar=2".to_owned()),
        ("Key: no empty tenant id", "@foo=1,bar=2".to_owned()),
        ("Key: one @", "foo@@bar=1,bar=2".to_owned()),
        ("Key: one @", "foo@bar@baz=1,bar=2".to_owned()),
        ("Key: not empty", "=1,bar=2".to_owned()),
        ("list-member: key \"=\" value", "foo,bar=2".to_owned()),
        ("Value: no =", "foo=bar=baz".to_owned()),
        ("Value: not empty", "foo=,bar=3".to_owned()),
        ("Value: no tab", "foo=a\tb".to_owned()),
        ("Value: printable ASCII", "foo=caf\u{e9}".to_owned()),
        ("Value: 257 characters", format!("k={}", "v".repeat(257))),
    ] {
        let spec: &'static str = Box::leak(format!("Trace Context, {rule}").into_boxed_str());
        cases.push(case(
            spec,
            &[tp, ("tracestate", &value)],
            dropped("tracestate_invalid"),
        ));
    }
    cases.push(case(
        "Trace Context, Value: printable ASCII, no control characters",
        &[tp, ("tracestate", "foo=a\u{1}b")],
        dropped("tracestate_invalid"),
    ));
    // Over 512 bytes: entries over 128 characters go first, then from the end.
    let long = format!("long={}", "x".repeat(200));
    let small: Vec<String> = (0..24)
        .map(|i| format!("v{i:02}={}", "y".repeat(20)))
        .collect();
    let fits = small
        .iter()
        .scan(0, |len, m| {
            *len += m.len() + 1;
            (*len - 1 <= 512).then(|| m.clone())
        })
        .collect::<Vec<_>>()
        .join(",");
    cases.push(case(
        "Trace Context, tracestate Limits: truncate whole entries, over 128 characters first, then from the end",
        &[tp, ("tracestate", &format!("{long},{}", small.join(",")))],
        continued("00").tracestate(&fits).counted("tracestate_limit"),
    ));
    cases
}

fn baggage_cases() -> Vec<Case> {
    let tp = ("traceparent", TP);
    let example = "userId=alice,serverNode=DF%2028,isProduction=false";
    let many = |n: usize| -> String {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut cases = vec![
        case(
            "Baggage, Examples of HTTP headers: a single header",
            &[tp, ("baggage", example)],
            continued("01").baggage(example),
        ),
        case(
            "Baggage, Examples of HTTP headers: split into multiple headers",
            &[
                tp,
                ("baggage", "userId=alice"),
                ("baggage", "serverNode=DF%2028,isProduction=false"),
            ],
            continued("01").baggage(example),
        ),
        case(
            "Baggage, Examples of HTTP headers: names and values may begin and end with spaces",
            &[
                tp,
                ("baggage", "userId =   alice"),
                ("baggage", "serverNode = DF%2028, isProduction = false"),
            ],
            continued("01").baggage(example),
        ),
        case(
            "Baggage, Header Name: any case",
            &[tp, ("Baggage", example)],
            continued("01").baggage(example),
        ),
        case(
            "Baggage, property: properties are kept with their member",
            &[
                tp,
                (
                    "baggage",
                    "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
                ),
            ],
            continued("01").baggage(
                "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue",
            ),
        ),
        case(
            "Baggage, value: may contain equal signs",
            &[tp, ("baggage", "k=a=b==")],
            continued("01").baggage("k=a=b=="),
        ),
        case(
            "Baggage, value: may be empty",
            &[tp, ("baggage", "k=,j=1")],
            continued("01").baggage("k=,j=1"),
        ),
        case(
            "Baggage, value: percent-encoded UTF-8",
            &[tp, ("baggage", "k=%E2%82%AC%20x")],
            continued("01").baggage("k=%E2%82%AC%20x"),
        ),
        case(
            "Baggage, value: octets that are not UTF-8 become U+FFFD",
            &[tp, ("baggage", "k=a%FFb")],
            continued("01").baggage("k=a%EF%BF%BDb"),
        ),
        case(
            "Baggage, Mutating baggage: a member not in the format may be removed",
            &[tp, ("baggage", "ok=1,bad key=2,k=a b,q=\"x\",last=2")],
            continued("01")
                .baggage("ok=1,last=2")
                .counted("baggage_invalid")
                .counted("baggage_invalid")
                .counted("baggage_invalid"),
        ),
        case(
            "Baggage, Mutating baggage: duplicate keys may be removed",
            &[tp, ("baggage", "k=1,j=2,k=3")],
            continued("01").baggage("k=3,j=2"),
        ),
        case(
            "Baggage, Limits: 180 members are propagated",
            &[tp, ("baggage", &many(180))],
            continued("01").baggage(&many(180)),
        ),
        case(
            "Baggage, Limits: past the limits, members may be dropped",
            &[tp, ("baggage", &many(181))],
            continued("01").baggage(&many(180)).counted("baggage_limit"),
        ),
        case(
            "Baggage, baggage-string: baggage travels without a traceparent",
            &[("baggage", "tenant.id=acme")],
            restarted(None).baggage("tenant.id=acme"),
        ),
        case(
            "Baggage, baggage-string: an empty header carries nothing",
            &[tp, ("baggage", " , ")],
            continued("01"),
        ),
    ];
    let big = format!("a=1,b={}", "x".repeat(8190));
    cases.push(case(
        "Baggage, Limits: 8192 bytes are propagated, members past them may be dropped",
        &[tp, ("baggage", &big)],
        continued("01").baggage("a=1").counted("baggage_limit"),
    ));
    cases
}

/// The carriers, each built from a case's header list.
#[derive(Clone, Copy, Debug)]
enum Kind {
    HashMap,
    Http,
    Amqp,
    Nats,
    Kafka,
}

const KINDS: [Kind; 5] = [
    Kind::HashMap,
    Kind::Http,
    Kind::Amqp,
    Kind::Nats,
    Kind::Kafka,
];

/// For maps with one value per key: the `k`-th of `n` lines of one name,
/// cased so that the names sort in the order of the lines (`TRacestate` <
/// `Tracestate` < `tracestate`), as both maps are read in key order.
fn spelled(name: &str, k: usize, n: usize) -> String {
    let upper = n - 1 - k;
    name.char_indices()
        .map(|(i, c)| if i < upper { c.to_ascii_uppercase() } else { c })
        .collect()
}

/// Each header under its own key: repeats of a name are spelled apart.
fn distinct_keys(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .enumerate()
        .map(|(i, (name, value))| {
            let same = |(n, _): &(String, String)| n.eq_ignore_ascii_case(name);
            let n = headers.iter().filter(|h| same(h)).count();
            let k = headers[..i].iter().filter(|h| same(h)).count();
            let key = if n > 1 {
                spelled(name, k, n)
            } else {
                name.clone()
            };
            (key, value.clone())
        })
        .collect()
}

const REASONS: [&str; 8] = [
    "traceparent_invalid",
    "traceparent_repeated",
    "traceparent_too_long",
    "tracestate_invalid",
    "tracestate_duplicate_key",
    "tracestate_limit",
    "baggage_invalid",
    "baggage_limit",
];

/// The reasons counted while `read` runs, once per count.
fn counting(read: impl FnOnce() -> Remote) -> (Remote, Vec<&'static str>) {
    let before: Vec<u64> = REASONS
        .iter()
        .map(|r| propagation::error_count(r))
        .collect();
    let remote = read();
    let counted = REASONS
        .iter()
        .zip(before)
        .flat_map(|(reason, before)| {
            let n = propagation::error_count(reason) - before;
            std::iter::repeat_n(*reason, n as usize)
        })
        .collect();
    (remote, counted)
}

type Seen = (Remote, Vec<&'static str>, Vec<(String, String)>);

/// Reads `headers` through carrier `kind` (and the reasons that counted),
/// continues it in an observed client span, and returns what was read and
/// the headers that span wrote into a fresh carrier of the same kind. `None`
/// when the carrier cannot hold these bytes.
fn through(kind: Kind, headers: &[(String, String)]) -> Option<Seen> {
    let (remote, counted) = match kind {
        Kind::HashMap => {
            let map: HashMap<String, String> = distinct_keys(headers).into_iter().collect();
            let read = counting(|| map.remote());
            assert_eq!(propagation::extract(&map), read.0.context);
            read
        }
        Kind::Http => {
            let mut map = http::HeaderMap::new();
            for (name, value) in headers {
                let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
                let value = http::HeaderValue::from_bytes(value.as_bytes()).ok()?;
                map.append(name, value);
            }
            let read = counting(|| map.remote());
            assert_eq!(carriers::http::extract(&map), read.0.context);
            read
        }
        Kind::Amqp => {
            let mut table = FieldTable::default();
            for (name, value) in distinct_keys(headers) {
                table.insert(
                    ShortString::from(name),
                    AMQPValue::LongString(LongString::from(value)),
                );
            }
            let read = counting(|| table.remote());
            assert_eq!(carriers::amqp::extract(Some(&table)), read.0.context);
            read
        }
        Kind::Nats => {
            let mut map = async_nats::HeaderMap::new();
            for (name, value) in headers {
                let name: async_nats::header::HeaderName = name.parse().ok()?;
                let value: async_nats::header::HeaderValue = value.parse().ok()?;
                map.append(name, value);
            }
            let read = counting(|| map.remote());
            assert_eq!(carriers::nats::extract(Some(&map)), read.0.context);
            read
        }
        Kind::Kafka => {
            let mut owned = OwnedHeaders::new();
            for (name, value) in headers {
                owned = owned.insert(Header {
                    key: name.as_str(),
                    value: Some(value.as_bytes()),
                });
            }
            let read = counting(|| owned.remote());
            assert_eq!(carriers::kafka::extract(Some(&owned)), read.0.context);
            read
        }
    };
    let _baggage = remote.baggage.as_deref().cloned().map(Baggage::attach);
    let _context = remote.context.clone().attach();
    let out = call(kind);
    Some((remote, counted, out))
}

/// The outgoing call: what the carrier of `kind` holds after `inject`.
#[observe(kind = client, span = "Conformance.Call")]
fn call(kind: Kind) -> Vec<(String, String)> {
    match kind {
        Kind::HashMap => {
            let mut map = HashMap::new();
            propagation::inject(&mut map);
            map.into_iter().collect()
        }
        Kind::Http => carriers::http::headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect(),
        Kind::Amqp => {
            let mut table = FieldTable::default();
            carriers::amqp::inject(&mut table);
            table
                .inner()
                .iter()
                .map(|(k, v)| match v {
                    AMQPValue::LongString(s) => (
                        k.to_string(),
                        String::from_utf8(s.as_bytes().to_vec()).unwrap(),
                    ),
                    other => panic!("{k}: {other:?} is not a long string"),
                })
                .collect()
        }
        Kind::Nats => {
            let map = carriers::nats::headers();
            map.iter()
                .flat_map(|(k, values)| {
                    values
                        .iter()
                        .map(move |v| (k.to_string(), v.as_str().to_owned()))
                })
                .collect()
        }
        Kind::Kafka => {
            let owned = carriers::kafka::headers();
            (0..owned.count())
                .map(|i| {
                    let h = owned.get(i);
                    (
                        h.key.to_owned(),
                        String::from_utf8(h.value.unwrap().to_vec()).unwrap(),
                    )
                })
                .collect()
        }
    }
}

fn the_one<'a>(out: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let found: Vec<&str> = out
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect();
    match found[..] {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(format!("{} `{name}` headers: {found:?}", found.len())),
    }
}

/// Checks one case through one carrier; the problems found, if any.
fn check(kind: Kind, case: &Case) -> Result<(), String> {
    let Some((remote, counted, out)) = through(kind, &case.headers) else {
        return Err("skipped: the carrier cannot hold these bytes".to_owned());
    };
    let expect = &case.expect;
    let mut problems = Vec::new();
    if counted != expect.counted {
        problems.push(format!(
            "counted {counted:?}, expected {:?}",
            expect.counted
        ));
    }
    let traceparent = the_one(&out, "traceparent")?.ok_or("no traceparent went out")?;
    let fields: Vec<&str> = traceparent.split('-').collect();
    let [version, trace_id, parent_id, flags] = fields[..] else {
        return Err(format!("traceparent {traceparent:?} is not version 00"));
    };
    if version != "00" || trace_id.len() != 32 || parent_id.len() != 16 {
        problems.push(format!("traceparent {traceparent:?} is not version 00"));
    }
    let incoming: Vec<&str> = case
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("traceparent"))
        .filter_map(|(_, v)| v.trim().get(3..35))
        .collect();
    if expect.continued {
        if trace_id != TRACE_ID || parent_id == PARENT_ID {
            problems.push(format!("not continued: {traceparent:?}"));
        }
        if !remote.context.remote {
            problems.push("the extracted context is not remote".to_owned());
        }
    } else if incoming.contains(&trace_id)
        || trace_id == "0".repeat(32)
        || remote.context.is_valid()
    {
        problems.push(format!("not restarted: {traceparent:?}"));
    }
    if flags != expect.flags {
        problems.push(format!("flags {flags}, expected {}", expect.flags));
    }
    let tracestate = the_one(&out, "tracestate")?;
    if tracestate != expect.tracestate.as_deref() {
        problems.push(format!(
            "tracestate {tracestate:?}, expected {:?}",
            expect.tracestate
        ));
    }
    if remote.context.trace_state.header() != expect.tracestate.as_deref().unwrap_or("") {
        problems.push(format!("extracted {:?}", remote.context.trace_state));
    }
    let baggage = the_one(&out, "baggage")?;
    if baggage != expect.baggage.as_deref() {
        problems.push(format!(
            "baggage {baggage:?}, expected {:?}",
            expect.baggage
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Runs every case through every carrier, in one thread so that the error
/// counters move only for the case at hand.
fn run(cases: Vec<Case>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    runtime();
    assert_eq!(observe_runtime::current(), SpanContext::NONE);
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    for case in &cases {
        let mut ran = 0;
        for kind in KINDS {
            match check(kind, case) {
                Ok(()) => ran += 1,
                Err(problem) if problem.starts_with("skipped") => {
                    skipped.push(format!("{kind:?}: {}", case.spec));
                }
                Err(problem) => failures.push(format!(
                    "{kind:?}: {}\n    headers {:?}\n    {problem}",
                    case.spec, case.headers
                )),
            }
        }
        assert!(
            ran > 0 || !failures.is_empty(),
            "no carrier ran {}",
            case.spec
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}",
        failures.len(),
        cases.len() * KINDS.len(),
        failures.join("\n")
    );
    // Only bytes a carrier's own type refuses are skipped.
    for skip in &skipped {
        assert!(
            skip.starts_with("Http: ") || skip.starts_with("Nats: "),
            "{skip}"
        );
        eprintln!("skipped (the carrier's type refuses the bytes): {skip}");
    }
}

#[test]
fn traceparent_follows_w3c_trace_context_over_every_carrier() {
    run(traceparent_cases());
}

#[test]
fn tracestate_follows_w3c_trace_context_over_every_carrier() {
    run(tracestate_cases());
}

#[test]
fn baggage_follows_w3c_baggage_over_every_carrier() {
    run(baggage_cases());
}

/// The three tests share the error counters; one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
