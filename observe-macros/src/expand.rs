//! Code generation: the instrumented function.
//!
//! The signature and attributes are emitted exactly as written; only the body
//! changes. Generated code names the runtime by absolute path (`krate`, from
//! `crate = ...`), prefixes its locals with `__observe_`, and wraps the user's
//! block in tokens located at that block, so type errors inside it point at
//! the user's code rather than at the attribute.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{AttrStyle, Block, ItemFn, LitStr, ReturnType, Type};

use crate::args::{FieldFormat, Role};
use crate::async_shapes::{self, Shape};
use crate::body::{body_span, outcome, return_annotation};
use crate::validate::{Messaging, Metric, Observe, Source};

/// `function` with its body instrumented as `observe` says; `track` makes
/// cargo rebuild it when the crate's policy changes.
pub(crate) fn instrument(observe: &Observe, function: ItemFn, track: &TokenStream) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    // syn keeps the block's inner attributes (`#![allow(..)]`) with the outer
    // ones; they must stay at the top of the body.
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Inner(_)));

    let shape = async_shapes::classify(&sig, &block);
    let entered = enters_at_start(observe, &shape);
    let prelude = prelude(observe, &sig, &shape, entered);
    let body = match shape {
        Shape::Sync => sync_body(observe, &block, &sig.output, entered),
        Shape::AsyncFn => async_shapes::async_fn(observe, &block, &sig.output),
        Shape::ImplFuture => async_shapes::impl_future(observe, &block, &sig.output),
        Shape::BoxPinAsync {
            before,
            call,
            future,
        } => async_shapes::box_pin_async_body(observe, &sig.output, before, call, future),
    };
    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #track
            #prelude
            #body
        }
    }
}

/// The crate's own sensitive words (`[package.metadata.observe]`), listed at
/// link time for the runtime's log layer, which masks event fields by the
/// same words. Nothing when the crate adds none.
pub(crate) fn policy_words(observe: &Observe, words: &[String]) -> TokenStream {
    if words.is_empty() {
        return TokenStream::new();
    }
    let krate = &observe.krate;
    quote! {
        #[#krate::__private::linkme::distributed_slice(#krate::__private::POLICY_SENSITIVE_KEYS)]
        #[linkme(crate = #krate::__private::linkme)]
        static __OBSERVE_POLICY_WORDS: &[&str] = &[#(#words),*];
    }
}

/// Whether the span becomes the thread's current span as it starts
/// (`start_entered`), rather than through an `enter` guard: a synchronous
/// function whose parent is the current span. A consumer's parent comes from
/// its message, and a future is entered on each poll.
fn enters_at_start(observe: &Observe, shape: &Shape<'_>) -> bool {
    matches!(shape, Shape::Sync)
        && observe
            .messaging
            .as_ref()
            .is_none_or(|messaging| matches!(messaging.source, Source::None))
}

/// Statements shared by every shape: the callsite, the span, its fields and,
/// for shapes that call the user's block as a closure, the helper that forces
/// that closure to be `FnOnce`.
fn prelude(
    observe: &Observe,
    sig: &syn::Signature,
    shape: &Shape<'_>,
    entered: bool,
) -> TokenStream {
    let krate = &observe.krate;
    let name = &observe.name;
    let kind = format_ident!("{}", observe.kind.variant());
    let function = LitStr::new(&sig.ident.unraw().to_string(), sig.ident.span());
    let (metric_static, metric) = metric(observe);
    let without_failure_log = (!observe.log_errors).then(|| quote!(.without_failure_log()));
    let objective = objective(observe);
    let fields = fields(observe);
    let labels = labels(observe);
    // A synchronous body calls `finish(&mut self)` on the span where it lies
    // (unless it never returns); the other shapes move it into a future.
    let finishes_in_place = matches!(shape, Shape::Sync) && !returns_never(&sig.output);
    let mutability = (finishes_in_place
        || !observe.fields.is_empty()
        || !observe.labels.is_empty()
        || observe.messaging.as_ref().is_some_and(Messaging::records))
    .then(|| quote!(mut));
    let (start, messaging) = messaging(observe, mutability, entered);
    // A closure that returns a borrow of a captured `&mut` must be `FnOnce`,
    // and closure kind is only forced by the bound of the function it is
    // passed to: calling `(move || ..)()` directly infers `FnMut` and rejects
    // `fn get(&mut self) -> &mut T`.
    // An entered body binds its closure first and calls it from two places;
    // the other shapes (and a body that never returns) call it in place.
    // Each gets only the helper it uses.
    let binds_closure = entered && !returns_never(&sig.output);
    let call_once = (shape.uses_call_once() && !binds_closure).then(|| {
        quote! {
            #[inline(always)]
            fn __observe_call_once<R>(f: impl ::core::ops::FnOnce() -> R) -> R {
                f()
            }
        }
    });
    // The same bound, for a closure bound to a local and called later.
    let once = binds_closure.then(|| {
        quote! {
            #[inline(always)]
            fn __observe_once<R, F: ::core::ops::FnOnce() -> R>(f: F) -> F {
                f
            }
        }
    });
    quote! {
        #call_once
        #once
        #metric_static
        static __OBSERVE_CALLSITE: #krate::__private::Callsite = #krate::__private::Callsite::new(
            #name,
            #krate::__private::SpanKind::#kind,
            #function,
            ::core::module_path!(),
            ::core::file!(),
            ::core::line!(),
            #metric,
        )#without_failure_log;
        // Listed at link time, so `catalog()` knows every function before
        // any is called.
        #[#krate::__private::linkme::distributed_slice(#krate::__private::CALLSITES)]
        #[linkme(crate = #krate::__private::linkme)]
        static __OBSERVE_CATALOG: &#krate::__private::Callsite = &__OBSERVE_CALLSITE;
        #objective
        #start
        #messaging
        #labels
        #fields
    }
}

/// How the span starts (`let __observe_span = ..`), and the messaging
/// attributes recorded on it. A consumer reading one message also binds
/// `__observe_baggage`, the baggage its body runs with.
fn messaging(
    observe: &Observe,
    mutability: Option<TokenStream>,
    entered: bool,
) -> (TokenStream, TokenStream) {
    let krate = &observe.krate;
    let start = if entered {
        quote!(start_entered)
    } else {
        quote!(start)
    };
    let plain = quote! {
        let #mutability __observe_span = #krate::__private::#start(&__OBSERVE_CALLSITE);
    };
    let Some(messaging) = &observe.messaging else {
        return (plain, TokenStream::new());
    };
    let link = messaging.link;
    let value_span = |value: &syn::Expr| Span::call_site().located_at(value.span());
    let (start, message) = match &messaging.source {
        Source::None => (plain, TokenStream::new()),
        Source::Headers(headers) => {
            let remote =
                quote_spanned!(value_span(headers)=> #krate::__private::remote(&(#headers)));
            (
                quote! {
                    let __observe_remote = #remote;
                    let __observe_baggage = #krate::__private::baggage_of(&__observe_remote);
                    let #mutability __observe_span = #krate::__private::start_consumer(
                        &__OBSERVE_CALLSITE, &__observe_remote, #link,
                    );
                },
                TokenStream::new(),
            )
        }
        Source::Message(message) => {
            let bind = quote_spanned!(value_span(message)=> let __observe_message = &(#message););
            let remote =
                quote_spanned!(value_span(message)=> #krate::__private::remote(__observe_message));
            let record = quote_spanned!(value_span(message)=>
                #krate::__private::record_message(&mut __observe_span, __observe_message);
            );
            (
                quote! {
                    #bind
                    let __observe_remote = #remote;
                    let __observe_baggage = #krate::__private::baggage_of(&__observe_remote);
                    let #mutability __observe_span = #krate::__private::start_consumer(
                        &__OBSERVE_CALLSITE, &__observe_remote, #link,
                    );
                },
                record,
            )
        }
        Source::Request(request) => {
            let start = quote_spanned!(value_span(request)=>
                #krate::__private::start_request(&__OBSERVE_CALLSITE, &(#request))
            );
            (
                quote!(let (#mutability __observe_span, __observe_baggage) = #start;),
                TokenStream::new(),
            )
        }
        Source::Batch(batch) => {
            let start = quote_spanned!(value_span(batch)=>
                #krate::__private::start_batch(&__OBSERVE_CALLSITE, &(#batch))
            );
            (
                quote!(let #mutability __observe_span = #start;),
                TokenStream::new(),
            )
        }
    };
    if messaging.role == Role::Server {
        // A request's attributes are recorded as its span starts; the
        // route is the literal's.
        let attributes = messaging.route.as_ref().map(|route| {
            quote! {
                if __observe_span.is_recording() {
                    __observe_span.set_attribute(
                        "http.route",
                        #krate::__private::Value::from(#route),
                    );
                }
            }
        });
        return (start, attributes.unwrap_or_default());
    }
    // A consumer of one message records the message's baggage when it
    // starts; producers and batches record the baggage current here.
    let current_baggage = (!messaging.source.is_single()).then(|| {
        quote! { #krate::__private::record_current_baggage(&mut __observe_span); }
    });
    let operation = &messaging.operation;
    let operation_name = messaging.operation_name();
    let system = messaging.system.as_ref().map(|system| {
        quote! {
            __observe_span.set_attribute(
                "messaging.system",
                #krate::__private::Value::from(#system),
            );
        }
    });
    let destination = messaging.destination.as_ref().map(|destination| {
        let value = quote_spanned!(value_span(destination)=>
            #krate::__private::display_value(&(#destination))
        );
        quote! {
            __observe_span.set_attribute("messaging.destination.name", #value);
        }
    });
    let attributes = quote! {
        if __observe_span.is_recording() {
            __observe_span.set_attribute(
                "messaging.operation.type",
                #krate::__private::Value::from(#operation),
            );
            __observe_span.set_attribute(
                "messaging.operation.name",
                #krate::__private::Value::from(#operation_name),
            );
            #system
            #destination
            #message
            #current_baggage
        }
    };
    (start, attributes)
}

/// For a synchronous consumer of one message: its baggage, current for the
/// call.
fn enter_baggage(observe: &Observe) -> TokenStream {
    match &observe.messaging {
        Some(messaging) if messaging.source.is_single() => {
            let krate = &observe.krate;
            quote!(let __observe_baggage_guard = #krate::__private::enter_baggage(__observe_baggage);)
        }
        _ => TokenStream::new(),
    }
}

/// The objective's static, listed at link time for `observe_runtime::slo`.
/// Static data only: nothing of it runs per call.
fn objective(observe: &Observe) -> TokenStream {
    let krate = &observe.krate;
    let Some(objective) = &observe.objective else {
        return TokenStream::new();
    };
    let success = match objective.success {
        Some(percent) => quote!(::core::option::Option::Some(#percent)),
        None => quote!(::core::option::Option::None),
    };
    let (latency, same_bound) = match &objective.latency {
        Some(latency) => {
            let (threshold, target) = (latency.threshold, latency.target);
            // The macro checked the threshold against its copy of the default
            // buckets; this fails the build if that copy and the runtime's
            // ever differ.
            let same_bound = latency.default_index.map(|index| {
                let nanos = (threshold * 1e9).round() as u64;
                quote! {
                    const _: () = ::core::assert!(
                        #krate::__private::LATENCY_BUCKET_NANOS[#index] == #nanos,
                        "observe-macros and observe-runtime disagree on the default buckets",
                    );
                }
            });
            (
                quote!(::core::option::Option::Some((#threshold, #target))),
                same_bound,
            )
        }
        None => (quote!(::core::option::Option::None), None),
    };
    let window = objective.window_seconds;
    quote! {
        #same_bound
        #[#krate::__private::linkme::distributed_slice(#krate::__private::OBJECTIVES)]
        #[linkme(crate = #krate::__private::linkme)]
        static __OBSERVE_OBJECTIVE: #krate::__private::CallsiteObjective =
            #krate::__private::CallsiteObjective {
                callsite: &__OBSERVE_CALLSITE,
                success: #success,
                latency: #latency,
                window_seconds: #window,
            };
    }
}

/// The callsite's `Metric` static, if any, and the `Option` naming it.
fn metric(observe: &Observe) -> (TokenStream, TokenStream) {
    let krate = &observe.krate;
    let Some(metric) = &observe.metric else {
        return (TokenStream::new(), quote!(::core::option::Option::None));
    };
    let labels = observe.labels.iter().map(|label| &label.prometheus);
    let labels = quote!(&[#(#labels),*]);
    let spec = match metric {
        Metric::Latency => quote!(#krate::__private::Metric::latency(#labels)),
        Metric::Custom { name, buckets } => {
            let (seconds, nanos) = match buckets {
                Some(buckets) => (quote!(&[#(#buckets),*]), {
                    let nanos = buckets.iter().map(|b| (b * 1e9).round() as u64);
                    quote!(&[#(#nanos),*])
                }),
                None => (
                    quote!(&#krate::__private::LATENCY_BUCKETS),
                    quote!(&#krate::__private::LATENCY_BUCKET_NANOS),
                ),
            };
            quote!(#krate::__private::Metric::custom(#name, #seconds, #nanos, #labels))
        }
    };
    (
        quote! {
            static __OBSERVE_METRIC: #krate::__private::Metric = #spec;
        },
        quote!(::core::option::Option::Some(&__OBSERVE_METRIC)),
    )
}

/// The call's label values: a string literal is a set of one; anything else
/// must be a `LabelValue`. Also recorded on the span when it is exported.
fn labels(observe: &Observe) -> TokenStream {
    if observe.labels.is_empty() {
        return TokenStream::new();
    }
    let krate = &observe.krate;
    let slots = observe.labels.iter().map(|label| match &label.value {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(literal),
            ..
        }) => quote! {{
            const __OBSERVE_VALUES: &[&str] = &[#literal];
            (0_usize, __OBSERVE_VALUES)
        }},
        value => {
            // Located at the value, so "`T` is not a closed set of label
            // values" points at the user's expression.
            let span = Span::call_site().located_at(value.span());
            quote_spanned!(span=> #krate::__private::label_slot(&(#value)))
        }
    });
    let attributes = observe.labels.iter().enumerate().map(|(i, label)| {
        let key = LitStr::new(&label.key.name(), label.key.span());
        quote! {
            let (__observe_index, __observe_values) = __observe_labels[#i];
            __observe_span.set_attribute(
                #key,
                #krate::__private::Value::from(__observe_values[__observe_index]),
            );
        }
    });
    quote! {
        if __observe_span.is_active() {
            let __observe_labels = [#(#slots),*];
            if __observe_span.is_recording() {
                #(#attributes)*
            }
            __observe_span.set_labels(&__observe_labels);
        }
    }
}

/// Attributes from `fields(...)`, computed only for a span that is exported.
fn fields(observe: &Observe) -> TokenStream {
    if observe.fields.is_empty() {
        return TokenStream::new();
    }
    let krate = &observe.krate;
    let set = observe.fields.iter().map(|field| {
        let key = LitStr::new(&field.key.name(), field.key.span());
        let value = &field.value;
        let convert = match field.format {
            _ if field.redact => quote!(redacted_value),
            FieldFormat::Value => quote!(attribute_value),
            FieldFormat::Display => quote!(display_value),
            FieldFormat::Debug => quote!(debug_value),
        };
        // Located at the value, so "`T` doesn't implement `Display`" points
        // at the user's expression.
        let span = Span::call_site().located_at(value.span());
        if field.redact {
            let converted = quote_spanned!(span=> #krate::__private::#convert(&(#value)));
            return quote! {
                __observe_span.set_attribute(#key, #converted);
            };
        }
        // A value whose type is marked `Sensitive` is refused at the value,
        // whatever its key: `(&Probe(..)).__observe_sensitivity()` resolves
        // to the marked impl only for such a type, and `not_sensitive`
        // accepts only the other.
        let value_ref = quote_spanned!(span=> __observe_value);
        let probe = quote_spanned! {span=>
            #krate::__private::not_sensitive(
                (&#krate::__private::Probe(#value_ref)).__observe_sensitivity(),
            )
        };
        let converted = quote_spanned!(span=> #krate::__private::#convert(#value_ref));
        quote! {
            {
                #[allow(unused_imports)] // one of the two applies to each value
                use #krate::__private::{ProbeMarked as _, ProbeUnmarked as _};
                let #value_ref = &(#value);
                #probe;
                __observe_span.set_attribute(#key, #converted);
            }
        }
    });
    quote! {
        if __observe_span.is_recording() {
            #(#set)*
        }
    }
}

/// `-> !`.
fn returns_never(output: &ReturnType) -> bool {
    matches!(output, ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)))
}

/// Body of a function whose value is ready when it returns. The user's block
/// runs in a closure so its `return` and `?` leave the closure, not the
/// function, and the outcome can still be recorded.
///
/// A span started `entered` is current from its start and puts its parent
/// back as it ends. Its function also returns early, straight through the
/// closure, when the runtime is off: with the closure called from two
/// branches, the compiler can keep the enabled path's stack frame off the
/// path a call takes before `init`.
fn sync_body(observe: &Observe, block: &Block, output: &ReturnType, entered: bool) -> TokenStream {
    let span = body_span(block);
    let enter = (!entered).then(|| quote!(let __observe_enter = __observe_span.enter();));
    let leave = (!entered).then(|| quote!(::core::mem::drop(__observe_enter);));
    if returns_never(output) {
        // Never returns: the span ends in `ActiveSpan`'s `Drop`, as a panic,
        // and code after the call would be unreachable.
        let baggage = enter_baggage(observe);
        return quote_spanned! {span=>
            #baggage
            #enter
            __observe_call_once(move || -> ! #block)
        };
    }
    let closure = match return_annotation(output) {
        Some(ty) => quote_spanned!(span=> move || -> #ty #block),
        None => quote_spanned!(span=> move || #block),
    };
    let outcome = outcome(&observe.krate);
    let baggage = enter_baggage(observe);
    if entered {
        return quote! {
            let __observe_body = __observe_once(#closure);
            if !__observe_span.is_active() {
                return __observe_body();
            }
            #baggage
            let __observe_ret = __observe_body();
            __observe_span.finish(#outcome);
            __observe_ret
        };
    }
    quote! {
        #baggage
        #enter
        let __observe_ret = __observe_call_once(#closure);
        #leave
        __observe_span.finish(#outcome);
        __observe_ret
    }
}
