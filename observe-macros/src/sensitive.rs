//! `#[derive(Sensitive)]`: marks a struct of one field as personal data. Its
//! `Debug` and `Display` print `[REDACTED]`, `mask` and `hash` read the
//! field's raw text, and `#[observe(fields(..))]` refuses it raw.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Path};

/// The impls for `input`, or why it cannot be marked.
pub(crate) fn derive(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let krate = crate_option(&input)?
        .map(|path| quote!(#path))
        .unwrap_or_else(|| quote!(::observe_runtime));
    let fields = match &input.data {
        Data::Struct(data) => &data.fields,
        Data::Enum(data) => return Err(one_field(data.enum_token.span)),
        Data::Union(data) => return Err(one_field(data.union_token.span)),
    };
    let value = match fields {
        Fields::Unnamed(fields) if fields.unnamed.len() == 1 => quote!(0),
        Fields::Named(fields) if fields.named.len() == 1 => {
            let name = fields.named[0].ident.as_ref().expect("a named field");
            quote!(#name)
        }
        _ => return Err(one_field(input.ident.span())),
    };
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::Sensitive for #name #ty_generics #where_clause {}

        impl #impl_generics #krate::RawText for #name #ty_generics #where_clause {
            fn raw_text(&self) -> ::std::borrow::Cow<'_, str> {
                #krate::RawText::raw_text(&self.#value)
            }
        }

        impl #impl_generics ::core::fmt::Debug for #name #ty_generics #where_clause {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #krate::__private::fmt_redacted(f)
            }
        }

        impl #impl_generics ::core::fmt::Display for #name #ty_generics #where_clause {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                #krate::__private::fmt_redacted(f)
            }
        }
    })
}

fn one_field(span: proc_macro2::Span) -> syn::Error {
    syn::Error::new(
        span,
        "`Sensitive` is derived for a struct of one field, the personal value itself, e.g. \
         `struct Email(String)`; a struct that holds one derives `Debug` as usual and shows it \
         redacted",
    )
}

/// `#[sensitive(crate = path)]`, for a crate that re-exports the runtime.
fn crate_option(input: &DeriveInput) -> syn::Result<Option<Path>> {
    let mut krate = None;
    for attr in input
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("sensitive"))
    {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                krate = Some(meta.value()?.parse::<Path>()?);
                Ok(())
            } else {
                Err(meta.error("unknown `sensitive` option, expected `crate = path`"))
            }
        })?;
    }
    Ok(krate)
}
