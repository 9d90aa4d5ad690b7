//! `#[derive(LabelValue)]`: a fieldless enum as a closed set of metric label
//! values, each variant's name in snake_case unless renamed.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt as _;
use syn::{Data, DeriveInput, Fields, LitStr, Path, Token};

use crate::errors::Errors;
use crate::rules;

/// The `LabelValue` impl for `input`, or every mistake found in it.
pub(crate) fn derive(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let mut errors = Errors::default();
    let krate = enum_options(&input, &mut errors);
    let Data::Enum(data) = &input.data else {
        let keyword = match &input.data {
            Data::Struct(data) => data.struct_token.span,
            Data::Union(data) => data.union_token.span,
            Data::Enum(data) => data.enum_token.span,
        };
        return Err(syn::Error::new(
            keyword,
            "`LabelValue` is derived for enums whose variants are the label's values, e.g. \
             `enum PaymentMethod { Card, BankTransfer }`",
        ));
    };
    if data.variants.is_empty() {
        errors.push(syn::Error::new_spanned(
            &input.ident,
            "an enum without variants has no label values: add one variant per value",
        ));
    }
    let mut values: Vec<(String, &syn::Ident)> = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            errors.push(syn::Error::new_spanned(
                &variant.fields,
                format!(
                    "label values are the variants themselves: `{}` carries data, whose values \
                     are not a closed set; record it on the span with `fields(...)` instead",
                    variant.ident
                ),
            ));
            continue;
        }
        let value = match rename(&variant.attrs, &mut errors) {
            Some(value) => value,
            None => rules::words(&variant.ident.unraw().to_string()).join("_"),
        };
        if let Some((_, first)) = values.iter().find(|(v, _)| *v == value) {
            errors.push(syn::Error::new_spanned(
                &variant.ident,
                format!(
                    "duplicate label value `{value}`: `{first}` has it already; give one \
                     `#[label(rename = \"...\")]`"
                ),
            ));
            continue;
        }
        values.push((value, &variant.ident));
    }
    errors.finish()?;

    let krate = krate.unwrap_or_else(|| syn::parse_quote!(::observe_runtime));
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let literals = values.iter().map(|(value, _)| value);
    let arms = values
        .iter()
        .enumerate()
        .map(|(index, (_, variant))| quote!(Self::#variant => #index,));
    Ok(quote! {
        impl #impl_generics #krate::__private::LabelValue for #name #ty_generics #where_clause {
            const VALUES: &'static [&'static str] = &[#(#literals),*];

            #[inline]
            fn label_index(&self) -> usize {
                match self {
                    #(#arms)*
                }
            }
        }
    })
}

/// `#[label(crate = path)]` on the enum.
fn enum_options(input: &DeriveInput, errors: &mut Errors) -> Option<Path> {
    let mut krate = None;
    for attr in input
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("label"))
    {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                krate = Some(meta.value()?.parse::<Path>()?);
                Ok(())
            } else if meta.path.is_ident("rename") {
                Err(meta.error("`rename` goes on a variant: `#[label(rename = \"...\")]`"))
            } else {
                Err(meta.error("unknown `label` option, expected `crate = path`"))
            }
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
    krate
}

/// `#[label(rename = "value")]` on a variant.
fn rename(attrs: &[syn::Attribute], errors: &mut Errors) -> Option<String> {
    let mut renamed = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("label")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                meta.input.parse::<Token![=]>()?;
                let value: LitStr = meta.input.parse()?;
                if value.value().is_empty() {
                    return Err(syn::Error::new(
                        value.span(),
                        "a label value must not be empty",
                    ));
                }
                renamed = Some(value.value());
                Ok(())
            } else {
                Err(meta.error("unknown `label` option, expected `rename = \"...\"`"))
            }
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(input: TokenStream) -> Vec<String> {
        match derive(input) {
            Ok(tokens) => panic!("expected errors, got {tokens}"),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn values_are_snake_case_variant_names() {
        let out = derive(quote! {
            enum PaymentMethod { Card, BankTransfer, #[label(rename = "wallet")] ApplePay }
        })
        .unwrap()
        .to_string();
        assert!(
            out.contains(r#"& ["card" , "bank_transfer" , "wallet"]"#),
            "{out}"
        );
        assert!(out.contains("Self :: ApplePay => 2usize"), "{out}");
    }

    #[test]
    fn mistakes() {
        assert_eq!(
            messages(quote!(
                enum E {
                    A(u32),
                    B,
                    #[label(rename = "b")]
                    C,
                }
            )),
            [
                "label values are the variants themselves: `A` carries data, whose values are \
                 not a closed set; record it on the span with `fields(...)` instead",
                "duplicate label value `b`: `B` has it already; give one \
                 `#[label(rename = \"...\")]`",
            ]
        );
        assert_eq!(
            messages(quote!(
                enum E {}
            )),
            ["an enum without variants has no label values: add one variant per value"]
        );
        assert_eq!(
            messages(quote!(
                struct S;
            ))
            .len(),
            1
        );
    }
}
