//! Code generation: the instrumented function.
//!
//! The signature and attributes are emitted exactly as written; only the body
//! changes. Generated code names the runtime by absolute path (`krate`, from
//! `crate = ...`), prefixes its locals with `__observe_`, and wraps the user's
//! block in tokens located at that block, so type errors inside it point at
//! the user's code rather than at the attribute.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{AttrStyle, Block, ItemFn, LitStr, Path, ReturnType, Type};

use crate::args::{Args, FieldFormat};
use crate::async_shapes::{self, Shape};
use crate::errors::Errors;
use crate::impl_block;
use crate::policy;
use crate::validate::{self, Context, Metric, Observe, Source};

/// `#[observe(args)] item`: the instrumented function, or every mistake found
/// in the arguments and the item.
pub(crate) fn observe(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    // The policy is the crate's, so a malformed one is reported at the
    // attribute: there is no token of the user's to point at.
    let loaded = policy::load().map_err(|message| syn::Error::new(Span::call_site(), message))?;
    let cx = Context {
        policy: loaded.policy.clone(),
        track: loaded.track(),
        ..Context::default()
    };
    if let Ok(block) = syn::parse2::<syn::ItemImpl>(item.clone()) {
        return Ok(impl_block::observe(args, block, &cx));
    }
    observe_function(args, item, &cx).map(|(tokens, _)| tokens)
}

/// `#[observe(args)]` on one function: the instrumented function and its span
/// name. `cx.function` and `cx.is_method` are filled in from the function.
pub(crate) fn observe_function(
    args: TokenStream,
    item: TokenStream,
    cx: &Context,
) -> syn::Result<(TokenStream, String)> {
    let mut errors = Errors::default();
    let args = Args::parse(args, &mut errors);
    let function = parse_function(item);
    let cx = Context {
        policy: cx.policy.clone(),
        function: function
            .as_ref()
            .ok()
            .map(|f| f.sig.ident.unraw().to_string()),
        is_method: function.as_ref().is_ok_and(|f| f.sig.receiver().is_some()),
        default_name: cx.default_name.clone(),
        in_impl: cx.in_impl,
        track: cx.track.clone(),
    };
    let observe = validate::validate(args, errors, &cx);
    match (observe, function) {
        (Ok(observe), Ok(function)) => {
            let name = observe.name.value();
            Ok((instrument(&observe, function, &cx.track), name))
        }
        (Err(mut errors), Err(error)) => {
            errors.combine(error);
            Err(errors)
        }
        (Err(error), Ok(_)) | (Ok(_), Err(error)) => Err(error),
    }
}

/// The errors, then `item` untouched: the user sees our diagnostics and not
/// a second wave caused by the item going missing.
pub(crate) fn original_with_errors(item: TokenStream, errors: syn::Error) -> TokenStream {
    let mut tokens = errors.into_compile_error();
    tokens.extend(item);
    tokens
}

fn parse_function(item: TokenStream) -> syn::Result<ItemFn> {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let message = if syn::parse2::<syn::TraitItemFn>(item).is_ok() {
                "`#[observe]` needs a function body: put it on the implementation, not the declaration"
            } else {
                "`#[observe]` goes on a function, a method or an `impl` block"
            };
            // The attribute itself is the mistake here, and it is what
            // `call_site` points at.
            return Err(syn::Error::new(Span::call_site(), message));
        }
    };
    if let Some(constness) = &function.sig.constness {
        return Err(syn::Error::new(
            constness.span,
            "a `const fn` cannot be observed: spans and metrics are recorded at run time; \
             remove `const` or `#[observe]`",
        ));
    }
    Ok(function)
}

fn instrument(observe: &Observe, function: ItemFn, track: &TokenStream) -> TokenStream {
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

/// The return type to annotate the user's block with, so `?` and `.into()`
/// resolve against it as they did in the original function. `None` when it
/// contains `impl Trait`, which is only allowed in the signature.
pub(crate) fn return_annotation(output: &ReturnType) -> Option<TokenStream> {
    match output {
        ReturnType::Default => Some(quote!(())),
        ReturnType::Type(_, ty) => type_annotation(ty),
    }
}

/// `ty` as a type annotation for a local, unless it contains `impl Trait`.
pub(crate) fn type_annotation(ty: &Type) -> Option<TokenStream> {
    let tokens = quote!(#ty);
    (!contains_impl_trait(tokens.clone())).then_some(tokens)
}

fn contains_impl_trait(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => contains_impl_trait(group.stream()),
        _ => false,
    })
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
    let fields = fields(observe);
    let labels = labels(observe);
    // A synchronous body calls `finish(&mut self)` on the span where it lies
    // (unless it never returns); the other shapes move it into a future.
    let finishes_in_place = matches!(shape, Shape::Sync) && !returns_never(&sig.output);
    let mutability = (finishes_in_place
        || !observe.fields.is_empty()
        || !observe.labels.is_empty()
        || observe.messaging.is_some())
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
        );
        // Listed at link time, so `catalog()` knows every function before
        // any is called.
        #[#krate::__private::linkme::distributed_slice(#krate::__private::CALLSITES)]
        #[linkme(crate = #krate::__private::linkme)]
        static __OBSERVE_CATALOG: &#krate::__private::Callsite = &__OBSERVE_CALLSITE;
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

/// `future`, run with the consumed message's baggage current on every poll
/// when the function is a consumer of one message.
pub(crate) fn with_baggage(observe: &Observe, future: TokenStream) -> TokenStream {
    match &observe.messaging {
        Some(messaging) if messaging.source.is_single() => {
            let krate = &observe.krate;
            quote!(#krate::__private::WithBaggage::new(__observe_baggage, #future))
        }
        _ => future,
    }
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
        let converted = quote_spanned!(span=> #krate::__private::#convert(&(#value)));
        quote! {
            __observe_span.set_attribute(#key, #converted);
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

/// A span with the hygiene of generated code and the location of the user's
/// block: errors about the block point at it, while lints still see
/// macro-generated code (so e.g. `clippy::let_and_return` stays quiet).
pub(crate) fn body_span(block: &Block) -> Span {
    Span::call_site().located_at(block.brace_token.span.join())
}

/// The `Outcome` of `__observe_ret`, picked by the runtime's autoref
/// specialisation so `Result` is recognised through any alias. Inlined rather
/// than calling the runtime's `__observe_outcome!` so that `crate = path`
/// only needs the re-exported `__private` module.
pub(crate) fn outcome(krate: &Path) -> TokenStream {
    quote! {{
        #[allow(unused_imports)] // only the impl that applies to the value's type is used
        use #krate::__private::{
            ClassifyDebug as _, ClassifyDisplay as _, ClassifyErrorType as _, ClassifyOther as _,
        };
        (&&&#krate::__private::Classify(&__observe_ret)).__observe_outcome()
    }}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        let tokens = observe(args, item).unwrap_or_else(|e| panic!("{e}"));
        // The output must be one well-formed function.
        let function: ItemFn =
            syn::parse2(tokens.clone()).unwrap_or_else(|e| panic!("{e}\n{tokens}"));
        squash(&quote!(#function).to_string())
    }

    /// Without whitespace, which the printer puts between every token.
    fn squash(tokens: &str) -> String {
        tokens.split_whitespace().collect()
    }

    #[track_caller]
    fn assert_has(out: &str, expected: &str) {
        assert!(
            out.contains(&squash(expected)),
            "expected `{expected}` in\n{out}"
        );
    }

    #[track_caller]
    fn assert_lacks(out: &str, unexpected: &str) {
        assert!(
            !out.contains(&squash(unexpected)),
            "unexpected `{unexpected}` in\n{out}"
        );
    }

    fn error_messages(args: TokenStream, item: TokenStream) -> Vec<String> {
        match observe(args, item) {
            Ok(tokens) => panic!("expected errors, got {tokens}"),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn sync_function() {
        let out = expand(
            quote!(span = "Order.Submit", metric = "latency", kind = server),
            quote!(
                pub(crate) fn submit(id: u64) -> Result<u64, Error> {
                    Ok(id)
                }
            ),
        );
        assert!(
            out.starts_with(&squash(
                "pub (crate) fn submit (id : u64) -> Result < u64 , Error > {"
            )),
            "{out}"
        );
        assert_has(&out, ":: observe_runtime :: __private :: Callsite :: new (\"Order.Submit\" , :: observe_runtime :: __private :: SpanKind :: Server , \"submit\" ,");
        assert_has(&out, "static __OBSERVE_METRIC : :: observe_runtime :: __private :: Metric = :: observe_runtime :: __private :: Metric :: latency (& []) ;");
        assert_has(
            &out,
            ":: core :: option :: Option :: Some (& __OBSERVE_METRIC) ,)",
        );
        // Current from its start, and ended in place.
        assert_has(
            &out,
            "let mut __observe_span = :: observe_runtime :: __private :: start_entered (& __OBSERVE_CALLSITE) ;",
        );
        assert_lacks(&out, ". enter ()");
        // The block is one closure, called on the early return taken before
        // `init` and on the observed path.
        assert_has(
            &out,
            "let __observe_body = __observe_once (move || -> Result < u64 , Error > { Ok (id) }) ; \
             if ! __observe_span . is_active () { return __observe_body () ; } \
             let __observe_ret = __observe_body () ; \
             __observe_span . finish (",
        );
        assert_has(&out, "fn __observe_once");
        assert_lacks(&out, "fn __observe_call_once");
        assert_lacks(&out, "is_recording");
    }

    #[test]
    fn consumer_enters_its_span_by_guard() {
        let out = expand(
            quote!(span = "Orders.Receive", consumer, headers = headers),
            quote!(
                fn receive(headers: &Headers) {}
            ),
        );
        assert_has(&out, ":: observe_runtime :: __private :: start_consumer (");
        assert_has(&out, "let __observe_enter = __observe_span . enter () ;");
        assert_has(&out, "__observe_call_once (move || -> () { })");
        assert_lacks(&out, "start_entered");
    }

    #[test]
    fn no_return_type_is_unit() {
        let out = expand(
            quote!(span = "Test.A"),
            quote!(
                fn f() {}
            ),
        );
        assert_has(&out, "move || -> () { }");
        assert_has(
            &out,
            ":: core :: line ! () , :: core :: option :: Option :: None ,)",
        );
    }

    #[test]
    fn impl_trait_return_is_not_annotated() {
        let out = expand(
            quote!(span = "Test.A"),
            quote!(
                fn f() -> Box<impl Display> {
                    Box::new(1)
                }
            ),
        );
        assert_has(&out, "__observe_once (move || { Box :: new (1) })");
    }

    #[test]
    fn never_returning() {
        let out = expand(
            quote!(span = "Test.A"),
            quote!(
                fn f() -> ! {
                    loop {}
                }
            ),
        );
        assert_has(&out, "__observe_call_once (move || -> ! { loop { } })");
        assert_lacks(&out, "finish");
    }

    #[test]
    fn fields_are_recorded_when_recording() {
        let out = expand(
            quote!(span = "Test.A", fields(order.id = order.id, customer = %order.customer, debug = ?thing)),
            quote!(
                fn f(order: &Order, thing: u8) {}
            ),
        );
        assert_has(&out, "let mut __observe_span");
        assert_has(&out, "if __observe_span . is_recording () { __observe_span . set_attribute (\"order.id\" , :: observe_runtime :: __private :: attribute_value (& (order . id))) ;");
        assert_has(&out, "set_attribute (\"customer\" , :: observe_runtime :: __private :: display_value (& (order . customer)))");
        assert_has(&out, "set_attribute (\"debug\" , :: observe_runtime :: __private :: debug_value (& (thing)))");
    }

    #[test]
    fn crate_path_replaces_the_runtime_path() {
        let out = expand(
            quote!(span = "Test.A", crate = facade::observe),
            quote!(
                fn f() {}
            ),
        );
        assert_lacks(&out, "observe_runtime");
        assert_has(&out, "facade :: observe :: __private :: Callsite :: new");
        assert_has(&out, "use facade :: observe :: __private :: {");
    }

    #[test]
    fn async_fn() {
        let out = expand(
            quote!(span = "Test.A"),
            quote!(
                async fn f(&self) -> &str {
                    &self.name
                }
            ),
        );
        assert!(
            out.starts_with(&squash("async fn f (& self) -> & str {")),
            "{out}"
        );
        assert_has(&out, "let (__observe_ret , mut __observe_span) : (& str , _) = :: observe_runtime :: __private :: Instrumented :: new (__observe_span , async move { let __observe_body : & str = { & self . name } ; # [allow (unreachable_code)] __observe_body } ,) . await");
        assert_lacks(&out, "__observe_call_once");
    }

    #[test]
    fn impl_future_fn() {
        let out = expand(
            quote!(span = "Test.A"),
            quote!(
                fn f(x: &u8) -> impl Future<Output = u8> + '_ {
                    async move { *x }
                }
            ),
        );
        assert_has(&out, "let __observe_fut = { let __observe_enter = __observe_span . enter () ; __observe_call_once (move || { async move { * x } }) } ; async move { let (__observe_ret , mut __observe_span) : (u8 , _) = :: observe_runtime :: __private :: Instrumented :: new (__observe_span , async move { let __observe_body : u8 = __observe_fut . await ; __observe_body }) . await ;");
    }

    #[test]
    fn async_trait_method() {
        let out = expand(
            quote!(span = "Test.A", fields(id = self.id)),
            quote!(
                fn get<'life0, 'async_trait>(
                    &'life0 self,
                ) -> Pin<Box<dyn Future<Output = u8> + Send + 'async_trait>>
                where
                    'life0: 'async_trait,
                    Self: 'async_trait,
                {
                    Box::pin(async move {
                        let __self = self;
                        let __ret: u8 = { __self.id };
                        __ret
                    })
                }
            ),
        );
        assert_has(&out, "set_attribute (\"id\" , :: observe_runtime :: __private :: attribute_value (& (self . id)))");
        assert_has(&out, "Box :: pin (async move { let (__observe_ret , mut __observe_span) : (u8 , _) = :: observe_runtime :: __private :: Instrumented :: new (__observe_span , async move { let __self = self ;");
    }

    #[test]
    fn signature_and_attributes_are_preserved() {
        let out = expand(
            quote!(span = "Test.A"),
            quote!(
                /// Docs.
                #[inline]
                pub unsafe extern "C" fn f<T: Copy>(x: T) -> T
                where
                    T: Send,
                {
                    #![allow(unused)]
                    x
                }
            ),
        );
        assert!(out.starts_with(&squash("# [doc = r\" Docs.\"] # [inline] pub unsafe extern \"C\" fn f < T : Copy > (x : T) -> T where T : Send , { # ! [allow (unused)]")), "{out}");
    }

    #[test]
    fn raw_identifier_function_name() {
        let out = expand(
            quote!(span = "Test.A"),
            quote!(
                fn r#match() {}
            ),
        );
        assert_has(&out, "\"match\" , :: core :: module_path ! ()");
    }

    #[test]
    fn rejects_const_fn() {
        assert_eq!(
            error_messages(quote!(span = "Test.A"), quote!(const fn f() {})),
            ["a `const fn` cannot be observed: spans and metrics are recorded at run time; remove `const` or `#[observe]`"]
        );
    }

    #[test]
    fn rejects_other_items() {
        assert_eq!(
            error_messages(
                quote!(span = "Test.A"),
                quote!(
                    struct S;
                )
            ),
            ["`#[observe]` goes on a function, a method or an `impl` block"]
        );
        assert_eq!(
            error_messages(quote!(span = "Test.A"), quote!(fn f(&self);)),
            ["`#[observe]` needs a function body: put it on the implementation, not the declaration"]
        );
    }

    #[test]
    fn argument_and_item_errors_are_reported_together() {
        assert_eq!(
            error_messages(
                quote!(span = NAME, kind = serve),
                quote!(
                    const fn f() {}
                )
            )
            .len(),
            3
        );
    }

    #[test]
    fn original_item_follows_the_errors() {
        let item = quote!(
            fn f() {}
        );
        let error = observe(quote!(span = ""), item.clone()).unwrap_err();
        let out = original_with_errors(item, error).to_string();
        assert!(out.starts_with(":: core :: compile_error !"), "{out}");
        assert!(out.ends_with("fn f () { }"), "{out}");
    }
}
