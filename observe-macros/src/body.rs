//! The pieces every body shape is built from, shared by `expand` and
//! `async_shapes`: where the user's block is, how its value is annotated and
//! classified, and the baggage a consumer's future runs with.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;
use syn::{Block, Path, ReturnType, Type};

use crate::validate::Observe;

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
