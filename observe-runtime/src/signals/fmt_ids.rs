//! `trace_id`, `span_id` and `sampled` in `tracing_subscriber::fmt` output.
//!
//! With a subscriber of your own, wrap the fmt layer's event format in
//! [`with_trace_ids`]: a line written inside an observed call then carries
//! the call's ids, in the human format as `key=value` pairs at the end of
//! the line and in the JSON format as fields of the object:
//!
//! ```
//! use tracing_subscriber::fmt;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry()
//!     .with(observe_runtime::logs::context_layer())
//!     .with(fmt::layer().event_format(observe_runtime::logs::with_trace_ids(fmt::format())));
//! # drop(subscriber);
//! // 2026-12-06T10:01:02.123456Z  INFO checkout: charging cents=1200 trace_id=4bf9…4736 span_id=00f0…02b7 sampled=true
//! ```
//!
//! For JSON, `fmt::format().json()` (tracing-subscriber's `json` feature):
//! `{"timestamp":…,"level":"INFO","fields":{…},"target":"checkout","trace_id":"4bf9…","span_id":"00f0…","sampled":true}`.
//!
//! Outside any observed call the line is the inner format's, unchanged.
//! A line with ids is formatted into a buffer first, so it carries no ANSI
//! colours.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::hot::context;

/// A `tracing_subscriber::fmt` event format that adds the current observed
/// span's ids to the lines of `F` (see [`with_trace_ids`]).
#[derive(Clone, Debug, Default)]
pub struct TraceIds<F> {
    inner: F,
}

/// `inner`, with `trace_id`, `span_id` and `sampled` added to every line
/// written inside an observed call: `fmt::format()` for the human format,
/// `fmt::format().json()` for JSON, or a format of your own.
pub fn with_trace_ids<F>(inner: F) -> TraceIds<F> {
    TraceIds { inner }
}

impl<S, N, F> FormatEvent<S, N> for TraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = context::current_ids();
        if !ids.is_valid() {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line.as_str(), ""),
        };
        let trace_id = ids.trace_id;
        let span_id = ids.span_id;
        let sampled = ids.sampled();
        match body.strip_suffix('}').filter(|_| body.starts_with('{')) {
            // A JSON object: the ids become its last fields.
            Some(object) => {
                let comma = if object.trim_end().ends_with('{') {
                    ""
                } else {
                    ","
                };
                write!(
                    writer,
                    "{object}{comma}\"trace_id\":\"{trace_id:032x}\",\"span_id\":\"{span_id:016x}\",\"sampled\":{sampled}}}{end}"
                )
            }
            None => write!(
                writer,
                "{body} trace_id={trace_id:032x} span_id={span_id:016x} sampled={sampled}{end}"
            ),
        }
    }
}
