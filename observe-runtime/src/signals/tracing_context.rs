//! `tracing` spans that carry the observe context they were created in
//! (documented on [`context_layer`], the public path being `logs`).

use std::cell::RefCell;
use std::sync::Arc;

use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::hot::baggage::{self, Baggage, BaggageGuard};
use crate::hot::context::{self, ContextGuard, SpanContext};

/// The `tracing` layer that makes `tracing` spans carry the observe context
/// they were created in (see [`context_layer`]). It writes nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct ContextLayer {
    _private: (),
}

/// The layer that makes `tracing` spans carry the observe context they were
/// created in, for a subscriber of your own.
///
/// Most services adopting observe already have `tracing` spans:
/// `#[tracing::instrument]` on handlers, `fut.instrument(info_span!(..))`,
/// `in_current_span()` before `tokio::spawn`. A `tracing` span created inside
/// an observed call records that call's context (and the current baggage);
/// when the span is entered on a thread that is outside every observed call,
/// as a spawned task's first poll is, the context it recorded becomes current
/// until the span is exited. So a future instrumented with a `tracing` span
/// continues the trace it was created in, wherever it runs.
///
/// Inside an observed call nothing changes: the observed span stays the
/// parent, whatever `tracing` span is entered under it.
///
/// [`logs::layer`](crate::logs::layer), which `init` installs, does this
/// already. With a subscriber of your own ([`LogOutput::Off`]), add this
/// layer:
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// let subscriber = tracing_subscriber::registry()
///     .with(observe_runtime::logs::context_layer())
///     .with(tracing_subscriber::fmt::layer().event_format(
///         observe_runtime::logs::with_trace_ids(tracing_subscriber::fmt::format()),
///     ));
/// # drop(subscriber);
/// ```
///
/// A span the subscriber's filter disables is never created, so it carries
/// nothing: keep the spans that cross tasks at a level the filter enables.
///
/// [`LogOutput::Off`]: crate::LogOutput::Off
pub fn context_layer() -> ContextLayer {
    ContextLayer::default()
}

/// What a `tracing` span recorded where it was created.
struct Carried {
    context: SpanContext,
    baggage: Option<Arc<Baggage>>,
}

/// A `tracing` span entered on this thread, with what its entry made
/// current (nothing when the thread was inside an observed call).
struct Entered {
    id: Id,
    // Fields drop in declaration order: the baggage first, then the
    // context, the reverse of how they were attached.
    _baggage: Option<BaggageGuard>,
    _context: Option<ContextGuard>,
}

thread_local! {
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

impl ContextLayer {
    pub(crate) fn new_span<S>(&self, id: &Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        // The ids first: a span created outside every observed call and
        // without baggage carries nothing, and clones nothing.
        let baggage = baggage::current();
        if !context::current_ids().is_valid() && baggage.is_none() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            let context = context::current();
            span.extensions_mut().insert(Carried { context, baggage });
        }
    }

    pub(crate) fn enter<S>(&self, id: &Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut entered = Entered {
            id: id.clone(),
            _context: None,
            _baggage: None,
        };
        // Inside an observed call its span stays the parent.
        if !context::current_ids().is_valid() {
            if let Some(span) = ctx.span(id) {
                if let Some(carried) = span.extensions().get::<Carried>() {
                    if carried.context.is_valid() {
                        entered._context = Some(carried.context.clone().attach());
                    }
                    if carried.baggage.is_some() {
                        entered._baggage = Some(baggage::attach_arc(carried.baggage.clone()));
                    }
                }
            }
        }
        let _ = ENTERED.try_with(|stack| stack.borrow_mut().push(entered));
    }

    pub(crate) fn exit(&self, id: &Id) {
        let left = ENTERED.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            // Spans are exited in the reverse order of entry; a guard
            // dropped out of order still finds its own entry.
            let at = stack.iter().rposition(|entered| entered.id == *id)?;
            Some(stack.remove(at))
        });
        // Restored outside the borrow.
        drop(left);
    }
}

impl<S> Layer<S> for ContextLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.new_span(id, &ctx);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.enter(id, &ctx);
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        self.exit(id);
    }
}
