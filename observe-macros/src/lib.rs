//! The `#[observe]` attribute of [observe]: one line gives a function a span,
//! an optional latency histogram and logs correlated with both.
//!
//! Use it through `observe_runtime`, which re-exports it; the expansion calls
//! into the runtime. (The examples here are not compiled: a proc-macro crate
//! cannot depend on the runtime its output needs.)
//!
//! ```text
//! use observe_runtime::observe;
//!
//! #[observe(span = "Order.Submit", metric = "latency", kind = server,
//!           fields(order.id = order.id, item_count = order.items.len(), customer = %order.customer))]
//! fn submit(order: &Order) -> Result<Receipt, OrderError> {
//!     tracing::info!("submitting"); // carries the span's trace and span ids
//!     ...
//! }
//! ```
//!
//! # Arguments
//!
//! | argument | value | default |
//! |---|---|---|
//! | `span = "Order.Submit"` | the span name: a string literal of 2 to 4 dot-separated PascalCase segments, fixed at compile time so calls can be aggregated | required on functions; `Type.Method` in an `#[observe]` impl block |
//! | `metric = "latency"` | also observe the call in the default latency histogram, `[<prefix>_]operation_duration_seconds` | no metric |
//! | `metric(name = "checkout_duration_seconds", buckets = [0.005, 0.5, 5.0])` | a histogram family of its own: snake_case, ending in `_seconds`; buckets positive, finite, increasing literals | default buckets |
//! | `fields(key = value, ...)` | span attributes, computed only when the span is exported; keys lowercase dot-namespaced snake_case; sensitive keys take `mask(..)` or `hash(..)` | none: nothing from the arguments is recorded unless listed |
//! | `labels(key = value, ...)` | metric label dimensions from closed sets: string literals, `bool`, `#[derive(LabelValue)]` enums; also recorded on the span | none |
//! | `kind = server` | `internal`, `server`, `client`, `producer` or `consumer` | `internal` |
//! | `skip` | on a method of an `#[observe]` impl block: leave it uninstrumented | |
//! | `crate = my_facade::observe` | the path generated code uses for the runtime | `::observe_runtime` |
//! | `consumer` / `producer` | a messaging span: kind CONSUMER / PRODUCER and `messaging.operation.*` attributes | not messaging |
//! | `message = delivery` | (consumer) a lapin `Delivery`, async-nats `Message` or rdkafka message: trace context, baggage and messaging attributes read from it | |
//! | `headers = expr` | (consumer) a header carrier computed from the arguments (`HashMap<String, String>`, `http::HeaderMap`, `FieldTable`, async-nats `HeaderMap`, rdkafka headers, in `Option` or behind `&`) | |
//! | `messages = batch` | (consumer) a batch: one span, one link per message | |
//! | `propagation = "link"` | (consumer) a new trace linked to the producer's span instead of its child | `"parent"` |
//! | `system = "rabbitmq"`, `destination = expr` | `messaging.system`, `messaging.destination.name` | from `message`, else none |
//! | `operation = "receive"` | `messaging.operation.type`: `process`/`receive` (consumer), `send`/`create` (producer) | `process` / `send` |
//!
//! On an `impl` block, `#[observe]` instruments every public method (every
//! method of a trait impl) as `Type.Method`; `kind`, `metric` and `crate` on
//! the block are defaults, and `span = "Payment"` a prefix. The naming rules
//! and the per-crate policy (`[package.metadata.observe]` in the crate's
//! `Cargo.toml`) are in the README's "Conventions" section.
//!
//! In `fields(...)` a key is identifiers joined by `.` (`order.id`) or a
//! string literal (`"order.id"`); a value is any expression, evaluated by
//! reference when the call starts:
//!
//! - `key = value` records strings, integers, floats and `bool` as such;
//! - `key = %value` records `value` formatted with `Display`;
//! - `key = ?value` records `value` formatted with `Debug`.
//!
//! Mistakes are compile errors pointing at the offending tokens, all reported
//! in one build: a span name that is not a string literal or breaks the naming
//! rules, an unknown argument, `metric` or `kind`, a duplicate argument, field
//! or label key, a key that is not lowercase snake_case, an unbounded label
//! key, a raw sensitive value, a missing `span` (with a suggested name), and
//! `#[observe]` on a `const fn`; for messaging: `headers`/`message`/`messages`
//! without `consumer`, `consumer` with `producer` or `kind`, two message
//! sources, an unknown `propagation`, `system` or `operation`, `propagation`
//! without a single message. A value that is not a carrier, a known message
//! or a batch is a type error at the expression naming what is accepted.
//!
//! `crate = path` is for crates that re-export the runtime: generated code
//! uses `path::__private` only, so re-export that module, e.g.
//! `#[doc(hidden)] pub use observe_runtime::__private;` or a glob
//! `pub use observe_runtime::*;` inside `path`.
//!
//! # What the expansion does
//!
//! The signature, attributes and docs are kept exactly as written; only the
//! body changes. Every shape starts the same way:
//!
//! ```text
//! static __OBSERVE_METRIC: Metric = Metric::latency(&[/* label names */]);
//! static __OBSERVE_CALLSITE: Callsite = Callsite::new(
//!     "Order.Submit", SpanKind::Server, "submit",
//!     module_path!(), file!(), line!(), Some(&__OBSERVE_METRIC));
//! #[distributed_slice(CALLSITES)] // listed in `catalog()` at link time
//! static __OBSERVE_CATALOG: &Callsite = &__OBSERVE_CALLSITE;
//! let mut __observe_span = start(&__OBSERVE_CALLSITE);
//! if __observe_span.is_recording() {
//!     __observe_span.set_attribute("order.id", attribute_value(&(order.id)));
//!     __observe_span.set_attribute("customer", display_value(&(order.customer)));
//! }
//! ```
//!
//! Then, for a plain function, the original block runs as a closure with the
//! span current, so `return` and `?` inside it still produce the value to
//! classify:
//!
//! ```text
//! let __observe_enter = __observe_span.enter();
//! let __observe_ret = __observe_call_once(move || -> Result<Receipt, OrderError> { /* block */ });
//! drop(__observe_enter);
//! __observe_span.finish(/* Ok, or Err with its error.type */);
//! __observe_ret
//! ```
//!
//! `Result` is recognised by type, through aliases such as `io::Result<T>`
//! and `anyhow::Result<T>`; every other return value is a success. A panic
//! ends the span with outcome `panic`, and a future dropped before completing
//! ends it as `cancelled`.
//!
//! For work that finishes later, the span covers the work, not the call that
//! created it:
//!
//! - `async fn`: the block becomes a future polled with the span current, and
//!   its output is classified when ready.
//! - `fn ... -> impl Future<Output = T>`: the future is created with the span
//!   current, then polled with it current.
//! - `#[async_trait]` methods: `#[async_trait]` turns `async fn` into a `fn`
//!   returning `Box::pin(async move { .. })`; that boxed future is wrapped the
//!   same way. The fields are evaluated before it, where `self` and the
//!   arguments still have their own names. This needs `#[async_trait]` on the
//!   `impl` (or trait) block and `#[observe]` on the method inside it, so that
//!   `#[async_trait]` runs first:
//!
//! ```text
//! #[async_trait]
//! impl Repository for Postgres {
//!     #[observe(span = "Orders.Load", kind = client, fields(table = self.table))]
//!     async fn load(&self, id: u64) -> anyhow::Result<Order> { ... }
//! }
//! ```
//!
//! # Limitations
//!
//! - `#[track_caller]` does not reach into the body, which runs in a closure.
//! - A `-> impl Future` function returns an `async` block, so extra bounds
//!   such as `+ Unpin` on the return type are not met.
//! - In `#[async_trait]` methods, arguments bound by a pattern (`(a, b): (u8,
//!   u8)`) are renamed by `#[async_trait]` and cannot be used in `fields`.
//!
//! [observe]: https://example.invalid/observe
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

use proc_macro::TokenStream;

mod args;
mod async_shapes;
mod body;
mod entry;
mod errors;
mod expand;
mod impl_block;
mod label_value;
mod naming;
mod policy;
mod rules;
mod validate;

/// Gives a function a span, an optional latency histogram and correlated
/// logs; see the [crate documentation](crate) for the arguments and the
/// expansion.
///
/// ```text
/// #[observe(span = "Order.Submit", metric = "latency", fields(order.id = id))]
/// fn submit(id: u64) -> Result<u64, OrderError> { ... }
/// ```
#[proc_macro_attribute]
pub fn observe(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::observe(args.into(), item.into()).into()
}

/// Derives `observe_runtime::LabelValue` for a fieldless enum, so its values
/// can be metric labels: `labels(payment.method = method)`.
///
/// Each variant's value is its name in snake_case (`BankTransfer` ->
/// `bank_transfer`), or `#[label(rename = "...")]`. `#[label(crate = path)]`
/// on the enum names a crate that re-exports the runtime.
///
/// ```text
/// #[derive(LabelValue)]
/// enum PaymentMethod { Card, BankTransfer, #[label(rename = "wallet")] ApplePay }
/// ```
#[proc_macro_derive(LabelValue, attributes(label))]
pub fn derive_label_value(input: TokenStream) -> TokenStream {
    label_value::derive(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
