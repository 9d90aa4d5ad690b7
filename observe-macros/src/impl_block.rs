//! `#[observe]` on an `impl` block: every public method gets a span named
//! `Type.Method` (`OrderService.SubmitOrder`), unless it says
//! `#[observe(skip)]`; a method's own `#[observe(...)]` refines or renames it.
//!
//! Arguments on the block (`kind`, `metric`, `crate`) are defaults for every
//! method; `span = "Payment"` on the block is a prefix
//! (`Payment.OrderService.SubmitOrder`).

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{quote, ToTokens as _};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{Attribute, ImplItem, ImplItemFn, ItemImpl, LitStr, Meta, Type, Visibility};

use crate::args::{Arg, Args};
use crate::errors::Errors;
use crate::rules;
use crate::validate::Context;

/// Block-level arguments that are defaults for each method.
const DEFAULTS: &[&str] = &["kind", "metric", "crate", "log_errors"];

/// Instruments the methods of `block`, each through `observe_method` (the
/// per-function pipeline, which returns the method and its span name).
pub(crate) fn observe(
    args: TokenStream,
    mut block: ItemImpl,
    block_cx: &Context,
    observe_method: impl Fn(TokenStream, TokenStream, &Context) -> syn::Result<(TokenStream, String)>,
) -> TokenStream {
    let policy = &block_cx.policy;
    let mut errors = Errors::default();
    let (prefix, defaults) = block_arguments(args, &mut errors);
    let type_name = type_name(&block.self_ty);
    let is_trait_impl = block.trait_.is_some();

    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        let attribute = take_observe_attributes(&mut method.attrs, &mut errors);
        let public = is_trait_impl || !matches!(method.vis, Visibility::Inherited);
        let method_args = match attribute {
            Some(args) => args,
            // Public `const fn`s are left alone: they cannot be observed,
            // and being public is not asking for it.
            None if public && method.sig.constness.is_none() => TokenStream::new(),
            None => continue,
        };
        if is_skip(&method_args, &mut errors) {
            continue;
        }
        let ident = method.sig.ident.unraw().to_string();
        let default_name = type_name.as_ref().map(|type_name| {
            let mut segments: Vec<String> = prefix.iter().map(LitStr::value).collect();
            segments.push(type_name.clone());
            segments.push(rules::pascal_case(&ident));
            LitStr::new(&segments.join("."), method.sig.ident.span())
        });
        if default_name.is_none() && !mentions_span(&method_args) {
            errors.push(syn::Error::new_spanned(
                &block.self_ty,
                format!(
                    "cannot name spans after this type: give `{ident}` \
                     `#[observe(span = \"{}\")]`",
                    policy.example_span_name()
                ),
            ));
            continue;
        }
        let merged = merge(method_args, &defaults);
        let cx = Context {
            policy: policy.clone(),
            function: Some(ident.clone()),
            is_method: method.sig.receiver().is_some(),
            default_name,
            in_impl: true,
            track: block_cx.track.clone(),
        };
        match observe_method(merged, method.to_token_stream(), &cx) {
            Ok((tokens, name)) => {
                if let Some(other) = names.insert(name.clone(), ident.clone()) {
                    errors.push(syn::Error::new(
                        method.sig.ident.span(),
                        format!(
                            "span name `{name}` is also used by `{other}` in this impl: give one \
                             of them `#[observe(span = \"...\")]`"
                        ),
                    ));
                }
                match syn::parse2::<ImplItemFn>(tokens) {
                    Ok(instrumented) => *method = instrumented,
                    Err(error) => errors.push(error),
                }
            }
            Err(error) => errors.push(error),
        }
    }
    match errors.finish() {
        Ok(()) => block.into_token_stream(),
        // The block with the attributes taken out, so none of them expands
        // again into a second, confusing error.
        Err(error) => {
            let mut tokens = error.into_compile_error();
            tokens.extend(block.into_token_stream());
            tokens
        }
    }
}

/// The `span` prefix and the default arguments, with errors for arguments
/// that only make sense per method.
fn block_arguments(args: TokenStream, errors: &mut Errors) -> (Option<LitStr>, Vec<TokenStream>) {
    let parsed = Args::parse(args.clone(), errors);
    let mut prefix = None;
    for arg in &parsed.list {
        match arg {
            Arg::Span {
                name: Some(name), ..
            } => {
                let value = name.value();
                let valid = !value.is_empty()
                    && value.split('.').all(|segment| {
                        rules::pascal_case(segment) == segment
                            && segment.starts_with(|c: char| c.is_ascii_uppercase())
                    });
                if valid {
                    prefix = Some(name.clone());
                } else {
                    errors.push(syn::Error::new(
                        name.span(),
                        "on an `impl` block, `span` is a prefix of PascalCase segments for every \
                         method's `Type.Method` name: e.g. `span = \"Payment\"`",
                    ));
                }
            }
            Arg::Fields { .. }
            | Arg::Labels { .. }
            | Arg::Skip { .. }
            | Arg::Role { .. }
            | Arg::Expr { .. }
            | Arg::Word { .. } => {
                errors.push(syn::Error::new(
                    arg.key_span(),
                    format!(
                        "`{}` is per method: put it in the method's own `#[observe(...)]`",
                        arg.key_name(),
                    ),
                ));
            }
            _ => {}
        }
    }
    // Re-split the original tokens so each default keeps its spans.
    let defaults = split_arguments(args)
        .into_iter()
        .filter(|argument| {
            first_word(argument).is_some_and(|word| DEFAULTS.contains(&word.as_str()))
        })
        .collect();
    (prefix, defaults)
}

/// `args` at its top-level commas.
fn split_arguments(args: TokenStream) -> Vec<TokenStream> {
    let mut arguments = vec![TokenStream::new()];
    for tree in args {
        match &tree {
            proc_macro2::TokenTree::Punct(punct) if punct.as_char() == ',' => {
                arguments.push(TokenStream::new());
            }
            _ => arguments.last_mut().map_or((), |last| last.extend([tree])),
        }
    }
    arguments.retain(|argument| !argument.is_empty());
    arguments
}

fn first_word(argument: &TokenStream) -> Option<String> {
    match argument.clone().into_iter().next()? {
        proc_macro2::TokenTree::Ident(ident) => Some(ident.unraw().to_string()),
        _ => None,
    }
}

/// The method's arguments, then each block default the method does not set.
fn merge(method: TokenStream, defaults: &[TokenStream]) -> TokenStream {
    let own: Vec<String> = split_arguments(method.clone())
        .iter()
        .filter_map(first_word)
        .collect();
    let mut merged = method;
    for default in defaults {
        if first_word(default).is_some_and(|word| !own.contains(&word)) {
            if !merged.is_empty() {
                merged.extend(quote!(,));
            }
            merged.extend(default.clone());
        }
    }
    merged
}

fn mentions_span(args: &TokenStream) -> bool {
    split_arguments(args.clone())
        .iter()
        .any(|argument| first_word(argument).as_deref() == Some("span"))
}

/// Whether the method's attribute is `#[observe(skip)]`.
fn is_skip(args: &TokenStream, errors: &mut Errors) -> bool {
    let arguments = split_arguments(args.clone());
    let skip = arguments
        .iter()
        .find(|argument| first_word(argument).as_deref() == Some("skip"));
    match skip {
        Some(skip) if arguments.len() > 1 => {
            errors.push(syn::Error::new(
                skip.span(),
                "`skip` leaves the method uninstrumented: remove the other arguments, or `skip`",
            ));
            true
        }
        Some(_) => true,
        None => false,
    }
}

/// Removes the method's `#[observe(...)]` attributes (by any path ending in
/// `observe`) and returns the arguments of the first.
fn take_observe_attributes(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Option<TokenStream> {
    let mut found: Option<TokenStream> = None;
    attrs.retain(|attr| {
        let is_observe = attr
            .path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "observe");
        if !is_observe {
            return true;
        }
        let args = match &attr.meta {
            Meta::Path(_) => TokenStream::new(),
            Meta::List(list) => list.tokens.clone(),
            Meta::NameValue(_) => {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "expected `#[observe(...)]` or `#[observe]`",
                ));
                return false;
            }
        };
        if found.is_some() {
            errors.push(syn::Error::new_spanned(
                attr,
                "duplicate `#[observe]` on this method: merge the arguments into one",
            ));
        } else {
            found = Some(args);
        }
        false
    });
    found
}

/// `OrderService` for `impl OrderService`, `impl<T> Repo<T>`, `impl Trait for
/// &OrderService`; `None` for types with no name of their own.
fn type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.unraw().to_string()),
        Type::Reference(reference) => type_name(&reference.elem),
        Type::Group(group) => type_name(&group.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        _ => None,
    }
}
