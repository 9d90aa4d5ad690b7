//! The driver: load the crate's policy, tell a function from an `impl`
//! block, then parse (`args`), check (`validate`) and generate (`expand`).
//!
//! Every other module is one stage of that pipeline and imports only the
//! stages below it; `impl_block` runs the per-function pipeline once per
//! method through the callback it is handed here, so it need not import it.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt as _;
use syn::ItemFn;

use crate::args::Args;
use crate::errors::Errors;
use crate::expand;
use crate::impl_block;
use crate::policy;
use crate::validate::{self, Context};

/// `#[observe(args)] item`: the instrumented item, or every mistake found
/// followed by the item untouched.
pub(crate) fn observe(args: TokenStream, item: TokenStream) -> TokenStream {
    try_observe(args, item.clone()).unwrap_or_else(|errors| original_with_errors(item, errors))
}

/// The instrumented function or `impl` block, or every mistake found in the
/// arguments and the item.
pub(crate) fn try_observe(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    // The policy is the crate's, so a malformed one is reported at the
    // attribute: there is no token of the user's to point at.
    let loaded = policy::load().map_err(|message| syn::Error::new(Span::call_site(), message))?;
    let cx = Context {
        policy: loaded.policy.clone(),
        track: loaded.track(),
        ..Context::default()
    };
    if let Ok(block) = syn::parse2::<syn::ItemImpl>(item.clone()) {
        return Ok(impl_block::observe(args, block, &cx, observe_function));
    }
    observe_function(args, item, &cx).map(|(tokens, _)| tokens)
}

/// `#[observe(args)]` on one function: the instrumented function and its span
/// name. `cx.function` and `cx.is_method` are filled in from the function.
fn observe_function(
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
            let mut track = cx.track.clone();
            track.extend(expand::policy_words(
                &observe,
                cx.policy.own_sensitive_keys(),
            ));
            Ok((expand::instrument(&observe, function, &track), name))
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
fn original_with_errors(item: TokenStream, errors: syn::Error) -> TokenStream {
    let mut tokens = errors.into_compile_error();
    tokens.extend(item);
    tokens
}

fn parse_function(item: TokenStream) -> syn::Result<ItemFn> {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) if syn::parse2::<syn::TraitItemFn>(item.clone()).is_ok() => {
            // The attribute is in the wrong place, and it is what
            // `call_site` points at.
            return Err(syn::Error::new(
                Span::call_site(),
                "`#[observe]` needs a function body: put it on the implementation, not the declaration",
            ));
        }
        Err(_) => {
            // At the item, which is what is not a function: the attribute
            // itself may be fine.
            return Err(syn::Error::new_spanned(
                item,
                "`#[observe]` goes on a function, a method or an `impl` block",
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        let tokens = try_observe(args, item).unwrap_or_else(|e| panic!("{e}"));
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
        match try_observe(args, item) {
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
        // Each value is evaluated once, checked for a marked type, then set.
        assert_has(&out, "if __observe_span . is_recording () { { # [allow (unused_imports)] use :: observe_runtime :: __private :: { ProbeMarked as _ , ProbeUnmarked as _ } ; let __observe_value = & (order . id) ;");
        assert_has(&out, ":: observe_runtime :: __private :: not_sensitive ((& :: observe_runtime :: __private :: Probe (__observe_value)) . __observe_sensitivity () ,) ;");
        assert_has(&out, "set_attribute (\"order.id\" , :: observe_runtime :: __private :: attribute_value (__observe_value))");
        assert_has(&out, "let __observe_value = & (order . customer) ;");
        assert_has(&out, "set_attribute (\"customer\" , :: observe_runtime :: __private :: display_value (__observe_value))");
        assert_has(&out, "set_attribute (\"debug\" , :: observe_runtime :: __private :: debug_value (__observe_value))");
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
        assert_has(&out, "let __observe_value = & (self . id) ;");
        assert_has(&out, "set_attribute (\"id\" , :: observe_runtime :: __private :: attribute_value (__observe_value))");
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
    fn rejects_a_declaration() {
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
        let error = try_observe(quote!(span = ""), item.clone()).unwrap_err();
        let out = original_with_errors(item, error).to_string();
        assert!(out.starts_with(":: core :: compile_error !"), "{out}");
        assert!(out.ends_with("fn f () { }"), "{out}");
    }
}
