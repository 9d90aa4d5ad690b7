//! The three ways a function can hand back work that finishes later, and how
//! each is instrumented so the span covers the work rather than the call that
//! created it:
//!
//! - `async fn`;
//! - a plain `fn` returning `impl Future<Output = T>`;
//! - a plain `fn` whose body ends in `Box::pin(async move { .. })`, which is
//!   what `#[async_trait]` turns an `async fn` into.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{
    Block, Expr, ExprAsync, ExprCall, GenericArgument, PathArguments, ReturnType, Signature, Stmt,
    Type, TypeParamBound,
};

use crate::body::{body_span, outcome, return_annotation, type_annotation, with_baggage};
use crate::validate::Observe;

/// How a function's result is produced.
pub(crate) enum Shape<'a> {
    /// The value is ready when the function returns.
    Sync,
    /// `async fn`.
    AsyncFn,
    /// `fn ... -> impl Future<Output = T>`.
    ImplFuture,
    /// A body ending in `Box::pin(async move { .. })` (`#[async_trait]`).
    BoxPinAsync {
        /// Statements before the tail expression, kept as they are.
        before: &'a [Stmt],
        /// The `Box::pin(..)` call.
        call: &'a ExprCall,
        /// Its argument.
        future: &'a ExprAsync,
    },
}

impl Shape<'_> {
    /// Shapes that call the body through `__observe_call_once`.
    pub(crate) fn uses_call_once(&self) -> bool {
        matches!(self, Shape::Sync | Shape::ImplFuture)
    }
}

/// Which shape `sig` and `block` have; `async fn` and `impl Future` are told
/// by the signature, `#[async_trait]` output by the body.
pub(crate) fn classify<'a>(sig: &Signature, block: &'a Block) -> Shape<'a> {
    if sig.asyncness.is_some() {
        return Shape::AsyncFn;
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        if is_impl_future(ty) {
            return Shape::ImplFuture;
        }
    }
    if let Some((Stmt::Expr(tail, None), before)) = block.stmts.split_last() {
        if let Some((call, future)) = box_pin_async(tail) {
            return Shape::BoxPinAsync {
                before,
                call,
                future,
            };
        }
    }
    Shape::Sync
}

/// `impl Future<..>` (any path ending in `Future`, plus other bounds).
fn is_impl_future(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(impl_trait) => impl_trait.bounds.iter().any(|bound| match bound {
            TypeParamBound::Trait(bound) => bound
                .path
                .segments
                .last()
                .is_some_and(|segment| segment.ident == "Future"),
            _ => false,
        }),
        Type::Group(group) => is_impl_future(&group.elem),
        Type::Paren(paren) => is_impl_future(&paren.elem),
        _ => false,
    }
}

/// `Box::pin(async { .. })`, with `Box` spelled by any path
/// (`::std::boxed::Box::pin`, `alloc::boxed::Box::pin`, ...).
fn box_pin_async(expr: &Expr) -> Option<(&ExprCall, &ExprAsync)> {
    let Expr::Call(call) = expr else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let segments: Vec<_> = func.path.segments.iter().collect();
    let [.., boxed, pin] = segments.as_slice() else {
        return None;
    };
    if boxed.ident != "Box" || pin.ident != "pin" || call.args.len() != 1 {
        return None;
    }
    match call.args.first() {
        Some(Expr::Async(future)) => Some((call, future)),
        _ => None,
    }
}

/// The type a future returned as `ty` resolves to: `T` in
/// `impl Future<Output = T>` or `Pin<Box<dyn Future<Output = T> + Send>>`.
/// `None` for anything else (aliases such as `BoxFuture<'a, T>`), which is
/// then left to inference.
fn future_output(ty: &Type) -> Option<&Type> {
    let bounds = match ty {
        Type::Group(group) => return future_output(&group.elem),
        Type::Paren(paren) => return future_output(&paren.elem),
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            if last.ident != "Pin" && last.ident != "Box" {
                return None;
            }
            let PathArguments::AngleBracketed(arguments) = &last.arguments else {
                return None;
            };
            return match arguments.args.first()? {
                GenericArgument::Type(inner) => future_output(inner),
                _ => None,
            };
        }
        Type::ImplTrait(impl_trait) => &impl_trait.bounds,
        Type::TraitObject(object) => &object.bounds,
        _ => return None,
    };
    bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let future = bound.path.segments.last().filter(|s| s.ident == "Future")?;
        let PathArguments::AngleBracketed(arguments) = &future.arguments else {
            return None;
        };
        arguments.args.iter().find_map(|argument| match argument {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// `(T, _)` for the awaited `(output, span)` pair when the output type `T` is
/// known from the signature. Classifying the output picks an impl by its type,
/// which must be known by then; without the annotation an error in the body
/// leaves it unknown and adds a confusing second error at the attribute.
fn awaited_annotation(output: Option<&Type>) -> TokenStream {
    match output.and_then(type_annotation) {
        Some(ty) => quote!(: (#ty, _)),
        None => TokenStream::new(),
    }
}

/// Body of an `async fn`: the user's block becomes a future polled under the
/// span, and the output is classified once it is ready.
pub(crate) fn async_fn(observe: &Observe, block: &Block, output: &ReturnType) -> TokenStream {
    let krate = &observe.krate;
    let outcome = outcome(krate);
    let annotation = return_annotation(output);
    let (body, pair) = match &annotation {
        Some(ty) => (
            quote_spanned!(body_span(block)=> let __observe_body: #ty = #block;),
            quote!(: (#ty, _)),
        ),
        None => (
            quote_spanned!(body_span(block)=> let __observe_body = #block;),
            TokenStream::new(),
        ),
    };
    let future = with_baggage(
        observe,
        quote! {
            async move {
                #body
                // A body that always diverges (a `panic!`, an endless loop)
                // makes this tail unreachable; that is the user's intent.
                #[allow(unreachable_code)]
                __observe_body
            }
        },
    );
    quote! {
        let (__observe_ret, mut __observe_span) #pair = #krate::__private::Instrumented::new(
            __observe_span,
            #future,
        )
        .await;
        __observe_span.finish(#outcome);
        __observe_ret
    }
}

/// Body of a `fn -> impl Future`: the future is created under the span (so
/// whatever the function does before returning it is inside), then polled
/// under it.
pub(crate) fn impl_future(observe: &Observe, block: &Block, output: &ReturnType) -> TokenStream {
    let krate = &observe.krate;
    let outcome = outcome(krate);
    let span = body_span(block);
    let create = quote_spanned!(span=> __observe_call_once(move || #block));
    let output = match output {
        ReturnType::Type(_, ty) => future_output(ty).and_then(type_annotation),
        ReturnType::Default => None,
    };
    let (future, pair) = match output {
        // Awaiting the user's future into a local of the declared output type
        // reports a mismatch ("expected `u64`, found `String`") at the user's
        // block instead of at the attribute.
        Some(ty) => (
            quote_spanned! {span=>
                async move {
                    let __observe_body: #ty = __observe_fut.await;
                    __observe_body
                }
            },
            quote!(: (#ty, _)),
        ),
        None => (quote!(__observe_fut), TokenStream::new()),
    };
    let future = with_baggage(observe, future);
    quote! {
        let __observe_fut = {
            let __observe_enter = __observe_span.enter();
            #create
        };
        async move {
            let (__observe_ret, mut __observe_span) #pair =
                #krate::__private::Instrumented::new(__observe_span, #future).await;
            __observe_span.finish(#outcome);
            __observe_ret
        }
    }
}

/// Body of an `#[async_trait]` method: the statements before the tail run as
/// they are; the boxed future is replaced by one that polls the original
/// under the span.
pub(crate) fn box_pin_async_body(
    observe: &Observe,
    output: &ReturnType,
    before: &[Stmt],
    call: &ExprCall,
    future: &ExprAsync,
) -> TokenStream {
    let krate = &observe.krate;
    let outcome = outcome(krate);
    let pair = awaited_annotation(match output {
        ReturnType::Type(_, ty) => future_output(ty),
        ReturnType::Default => None,
    });
    let ExprCall { attrs, func, .. } = call;
    let future = with_baggage(observe, quote!(#future));
    quote! {
        #(#before)*
        #(#attrs)*
        #func(async move {
            let (__observe_ret, mut __observe_span) #pair =
                #krate::__private::Instrumented::new(__observe_span, #future).await;
            __observe_span.finish(#outcome);
            __observe_ret
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn shape_of(function: &syn::ItemFn) -> &'static str {
        match classify(&function.sig, &function.block) {
            Shape::Sync => "sync",
            Shape::AsyncFn => "async fn",
            Shape::ImplFuture => "impl future",
            Shape::BoxPinAsync { .. } => "box pin async",
        }
    }

    #[test]
    fn sync_functions() {
        let plain: syn::ItemFn = parse_quote!(
            fn f() -> u8 {
                1
            }
        );
        assert_eq!(shape_of(&plain), "sync");
        let impl_other: syn::ItemFn = parse_quote!(
            fn f() -> impl Iterator<Item = u8> {
                None.into_iter()
            }
        );
        assert_eq!(shape_of(&impl_other), "sync");
        let boxed_value: syn::ItemFn = parse_quote!(
            fn f() -> Box<u8> {
                Box::new(1)
            }
        );
        assert_eq!(shape_of(&boxed_value), "sync");
        let pin_not_async: syn::ItemFn = parse_quote!(
            fn f() -> Pin<Box<u8>> {
                Box::pin(1)
            }
        );
        assert_eq!(shape_of(&pin_not_async), "sync");
        let not_tail: syn::ItemFn = parse_quote!(
            fn f() {
                Box::pin(async move {});
            }
        );
        assert_eq!(shape_of(&not_tail), "sync");
    }

    #[test]
    fn async_fn_wins_over_body_shape() {
        let function: syn::ItemFn = parse_quote!(
            async fn f() {
                Box::pin(async move {})
            }
        );
        assert_eq!(shape_of(&function), "async fn");
    }

    #[test]
    fn impl_future_returns() {
        let plain: syn::ItemFn = parse_quote!(
            fn f() -> impl Future<Output = u8> {
                async { 1 }
            }
        );
        assert_eq!(shape_of(&plain), "impl future");
        let qualified: syn::ItemFn = parse_quote!(
            fn f<'a>(x: &'a u8) -> impl ::core::future::Future<Output = u8> + Send + 'a {
                async move { *x }
            }
        );
        assert_eq!(shape_of(&qualified), "impl future");
        let second_bound: syn::ItemFn = parse_quote!(
            fn f() -> impl Send + std::future::Future<Output = ()> {
                async {}
            }
        );
        assert_eq!(shape_of(&second_bound), "impl future");
    }

    #[test]
    fn future_output_types() {
        let output = |ty: Type| future_output(&ty).map(|t| quote!(#t).to_string());
        assert_eq!(
            output(parse_quote!(impl Future<Output = u8>)).as_deref(),
            Some("u8")
        );
        assert_eq!(
            output(parse_quote!(
                impl Send + core::future::Future<Output = Result<(), E>> + 'a
            ))
            .as_deref(),
            Some("Result < () , E >")
        );
        assert_eq!(
            output(parse_quote!(
                Pin<Box<dyn Future<Output = &'life0 str> + Send + 'async_trait>>
            ))
            .as_deref(),
            Some("& 'life0 str")
        );
        assert_eq!(
            output(parse_quote!(Box<dyn Future<Output = u8>>)).as_deref(),
            Some("u8")
        );
        assert_eq!(output(parse_quote!(impl Future)), None);
        assert_eq!(output(parse_quote!(Box<u8>)), None);
        assert_eq!(
            output(parse_quote!(
                BoxFuture<'static, Option<Pin<Box<dyn Future<Output = u8>>>>>
            )),
            None,
            "only `Pin` and `Box` are looked through"
        );
    }

    #[test]
    fn async_trait_bodies() {
        let short: syn::ItemFn = parse_quote!(
            fn f<'life0, 'async_trait>(
                &'life0 self,
            ) -> Pin<Box<dyn Future<Output = u8> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async move {
                    let __self = self;
                    let __ret: u8 = { 1 };
                    __ret
                })
            }
        );
        assert_eq!(shape_of(&short), "box pin async");
        let full_path: syn::ItemFn = parse_quote!(
            fn f() -> Pin<Box<dyn Future<Output = ()>>> {
                let x = 1;
                ::std::boxed::Box::pin(async move { drop(x) })
            }
        );
        match classify(&full_path.sig, &full_path.block) {
            Shape::BoxPinAsync { before, .. } => assert_eq!(before.len(), 1),
            _ => panic!("expected the async-trait shape"),
        }
        let alloc: syn::ItemFn = parse_quote!(
            fn f() -> Pin<Box<dyn Future<Output = ()>>> {
                alloc::boxed::Box::pin(async {})
            }
        );
        assert_eq!(shape_of(&alloc), "box pin async");
    }
}
