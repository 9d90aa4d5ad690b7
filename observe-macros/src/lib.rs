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
//! Every argument, with its accepted values, its default and an example, is
//! documented on [`#[observe]`](macro@observe), with the naming rules and the
//! per-crate policy.
//!
//! Mistakes are compile errors pointing at the offending tokens, all reported
//! in one build, and the function is still emitted beside them so no second,
//! unrelated error follows.
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
mod key_words;
mod label_value;
mod naming;
mod objective;
mod policy;
mod rules;
mod sensitive;
mod validate;

/// Gives a function a span, an optional latency histogram and logs correlated
/// with both.
///
/// ```text
/// use observe_runtime::observe;
///
/// #[observe(span = "Order.Submit", metric = "latency", kind = server,
///           fields(order.id = order.id, customer = %order.customer))]
/// fn submit(order: &Order) -> Result<Receipt, OrderError> {
///     tracing::info!("submitting"); // carries the span's trace and span ids
///     ...
/// }
/// ```
///
/// This is the one reference for the arguments; the crate documentation shows
/// what the expansion does. Arguments are `key = value` pairs (or a bare word,
/// or `key(...)`) separated by commas, in any order, each given at most once.
/// Mistakes are compile errors at the offending tokens, all reported in one
/// build.
///
/// | argument | accepted values | default |
/// |---|---|---|
/// | [`span`](#span) | a string literal: 2 to 4 dot-separated PascalCase segments | required on functions; `Type.Method` in an `#[observe]` impl block |
/// | [`metric`](#metric) | `"latency"`, or `metric(name = "..", buckets = [..])` | no metric |
/// | [`fields`](#fields-span-attributes) | `fields(key = value, key = %value, key = ?value, ..)` | nothing recorded |
/// | [`labels`](#labels) | `labels(key = value, ..)` from closed sets | no labels |
/// | [`kind`](#kind) | `internal`, `server`, `client`, `producer`, `consumer` | `internal` |
/// | [`crate`](#crate) | a path | `::observe_runtime` |
/// | [`skip`](#skip) | a bare word, on a method of an `#[observe]` impl block | instrumented |
/// | [`consumer`, `producer`](#consumer-and-producer) | bare words | not a messaging span |
/// | [`server`](#server) | a bare word (or `kind = server`) | not a server span |
/// | [`message`](#message) | an expression: a lapin, async-nats or rdkafka message | |
/// | [`request`](#server) | an expression: an `http::Request` (server) | |
/// | [`route`](#server) | a string literal: the route template (server) | none |
/// | [`headers`](#headers) | an expression: a header carrier (consumer, server) | |
/// | [`messages`](#messages) | an expression: a batch of messages or header maps | |
/// | [`propagation`](#propagation) | `"parent"` or `"link"` | `"parent"` |
/// | [`system`](#system-and-destination) | a string literal of the semantic conventions | from `message`, else none |
/// | [`destination`](#system-and-destination) | an expression (`Display`) | from `message`, else none |
/// | [`log_errors`](#log_errors) | `true` or `false` | `true` |
/// | [`objective`](#objective) | `objective(success = "99.9%", latency = "250ms", latency_target = "99%", window = "30d")` | no objective |
/// | [`operation`](#operation) | `"process"`, `"receive"` (consumer); `"send"`, `"create"` (producer) | `"process"` / `"send"` |
///
/// # `span`
///
/// `span = "Order.Submit"`: the span name, a string literal fixed at compile
/// time so calls can be aggregated; varying values belong in [`fields`](#fields-span-attributes).
/// Required, except on a method of an `#[observe]` impl block.
///
/// A name is 2 to 4 segments joined by `.`, each PascalCase: an ASCII uppercase
/// letter, then ASCII letters and digits (`Order.Submit`, `Api.V2.Orders`,
/// `Payment.OrderService.CreateOrder`). The first segment is the domain. A
/// computed name (a variable, a constant, `format!`), lowercase, snake_case,
/// whitespace, an empty segment, a single segment, a `{placeholder}` and non-ASCII
/// are errors, with the fix when it is mechanical (`order.submit` -> write
/// `Order.Submit`). A missing `span` is an error suggesting a name from the
/// function's (`fn submit_order` -> `<Domain>.SubmitOrder`).
///
/// ```text
/// #[observe(span = "Payment.OrderService.CreateOrder")]
/// fn create_order(..) { .. }
/// ```
///
/// # `metric`
///
/// `metric = "latency"`: also observe the call in the default latency
/// histogram, `operation_duration_seconds{operation, outcome, error_type}` (with
/// the runtime's configured `metric_prefix`, `<prefix>_operation_duration_seconds`),
/// with the default buckets. Without `metric` the call has a span only.
///
/// `metric(name = "checkout_duration_seconds", buckets = [0.005, 0.05, 0.5, 5.0])`:
/// a histogram family of its own, kept as written (the runtime's `metric_prefix`
/// applies to the default family only). `name` is required: the Prometheus
/// grammar, snake_case, ending in its unit `_seconds`, not ending in `_total`,
/// `_bucket`, `_count` or `_sum`, not starting with `__`, and not observe's own
/// (`operation_duration_seconds`, `observe_*`). `buckets` is optional (default:
/// the default buckets): number literals in seconds, positive, finite, strictly
/// increasing and at least a nanosecond apart; the `+Inf` bucket is always added.
///
/// ```text
/// #[observe(span = "Checkout.Pay", metric(name = "checkout_duration_seconds", buckets = [0.01, 0.1, 1.0]))]
/// fn pay(..) { .. }
/// ```
///
/// # `log_errors`
///
/// `log_errors = false`: an `Err` or panic of this function writes no
/// `observe.failure` log event (see `Config::log_failures`, which turns the
/// event off for every function). For an `Err` that is expected, such as a
/// cache miss; the span is still ERROR and the histogram still counts the
/// error. On an `impl` block it is a default for every method.
///
/// ```text
/// #[observe(span = "Cache.Get", log_errors = false)]
/// fn get(key: &str) -> Result<Bytes, Miss> { .. }
/// ```
///
/// # `objective`
///
/// `objective(success = "99.9%", latency = "250ms", latency_target = "99%", window = "30d")`:
/// a service level objective on the function's calls, from which
/// `observe_runtime::slo::rules()` generates Prometheus recording rules and
/// multiwindow burn-rate alerts. Needs `metric`. `success`: the share of
/// calls that must not fail (`Err` or panic). `latency` (`us`, `ms` or `s`)
/// with `latency_target`: the share of calls that must take at most that
/// long; the threshold must be one of the histogram's bucket boundaries (the
/// default buckets, or `metric(name = .., buckets = [..])`), since a latency
/// objective is counted at a boundary. Targets are percentages above 0% and
/// below 100%. `window` (default `30d`): whole days, hours or weeks, from
/// `1h` to `365d`; the alert windows scale with it. The objective is static
/// data listed at link time: nothing of it runs per call.
///
/// ```text
/// #[observe(span = "Checkout.Pay", metric = "latency",
///           objective(success = "99.9%", latency = "250ms", latency_target = "99%"))]
/// fn pay(..) { .. }
/// ```
///
/// # `fields`: span attributes
///
/// `fields(key = value, ...)`: span attributes, evaluated by reference when the
/// call starts and computed only when the span is recorded (sampled). Nothing
/// from the arguments is recorded unless listed. A value is any expression over
/// the arguments:
///
/// - `key = value` records strings, integers, floats and `bool` as such;
/// - `key = %value` records `value` formatted with `Display`;
/// - `key = ?value` records `value` formatted with `Debug`.
///
/// A key is identifiers joined by `.` (`order.id`) or a string literal
/// (`"order.id"`): lowercase snake_case segments joined by `.`, OpenTelemetry
/// style (`tenantId` -> write `tenant.id`). A duplicate key and observe's own
/// keys (`code.*`, `error.type`, `exception.*`, `observe.*`) are errors.
///
/// A sensitive field must be recorded through `observe_runtime::mask(..)` (keeps
/// the shape: `a***@example.com`) or `observe_runtime::hash(..)` (a keyed digest,
/// so equal values stay joinable). This is checked by name here and by type: only
/// `Masked` and `Hashed` pass, so a `mask` of one's own does not, and a type
/// marked `Sensitive` is refused raw whatever its name. By name, a field is
/// sensitive when:
///
/// - its key holds a sensitive word: `email`, `mail`, `phone`, `mobile`,
///   `msisdn`, `address`, `ip`, `ipv4`, `ipv6`, `password`, `passwd`, `pwd`,
///   `secret`, `token`, `apikey`, `bearer`, `authorization`, `cookie`, `card`,
///   `creditcard`, `cardnumber`, `pan`, `cvv`, `cvc`, `iban`, `ssn`, `nationalid`,
///   `passport`, `birth`, `dob`, plus the crate's `sensitive_keys`. The key is
///   split at `.`, `_`, `-` and case changes, and each pair of neighbouring
///   words is joined too: `e_mail`, `eMail`, `credit_card`, `api_key` and
///   `national_id` are caught. A word of five letters or more is also found
///   inside a word (`emailaddress`, `useremail`, `birthdate`, `cookies`); a
///   shorter one only as a whole word, so `zip`, `span.kind`, `shipping`,
///   `company` and `discard_count` pass. `tokenizer` is the one look-alike let
///   through: it names a component, not a credential.
/// - any identifier in its value is sensitive, not only the last: every path
///   segment, field and method name, and every argument of a macro, inline
///   format arguments included. `contact = email.clone()`,
///   `contact = customer.email.as_str()`, `note = format!("{}", email)` and
///   `who = user.get_email()` are errors; what a `mask(..)` or `hash(..)`
///   returns is not looked into (`note = format!("to {}", hash(&email))`).
///
/// A fact about a value is not sensitive, but only a fact whose result cannot
/// hold the value: `is_empty()`, `len()`, `is_some()`, `is_none()` on anything,
/// a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`), `&&` and `||`, a literal,
/// and `!` or `as` of one of these (`has_email = !email.is_empty()`). Any other
/// method is not trusted, whatever its name: `email.has_domain()`,
/// `email.is_valid()` and `email.contains('@')` may return the value itself.
/// An exact key in `allow.sensitive_keys` is not checked by name.
///
/// ```text
/// #[observe(span = "Order.Submit", fields(order.id = order.id, item_count = order.items.len(),
///           customer = %order.customer, user.email = observe_runtime::mask(&user.email)))]
/// fn submit(order: &Order, user: &User) { .. }
/// ```
///
/// # `labels`
///
/// `labels(key = value, ...)`: label dimensions of the histogram, so it needs
/// [`metric`](#metric); also recorded on the span. Values come from closed sets
/// only: a string literal, a `bool`, or an enum with `#[derive(LabelValue)]`
/// (values in snake_case, or `#[label(rename = "..")]`). A formatted value
/// (`%`, `?`) is unbounded and an error.
///
/// Keys are spelled like [`fields`](#fields-span-attributes) keys and exported with `_` for `.`
/// (`payment.method` -> `payment_method`). A key whose last word has unbounded
/// values (`id`, `uuid`, `guid`, `email`, `phone`, `ip`, `url`, `path`, `query`,
/// `user`, `session`, `token`, plus the crate's `deny_label_keys`) is an error
/// ("put it on the span with `fields(...)` instead"), as is a sensitive key, a
/// name the histogram already has (`operation`, `outcome`, `error_type`, `le`,
/// `quantile`), a duplicate, and a key that is also a field.
///
/// ```text
/// #[observe(span = "Payment.Charge", metric = "latency", labels(payment.method = method, region = "eu"))]
/// fn charge(method: PaymentMethod) { .. }
/// ```
///
/// # `kind`
///
/// `kind = server`: the span kind, one of `internal`, `server`, `client`,
/// `producer`, `consumer`, written as a bare word. Default `internal`. With
/// [`consumer` or `producer`](#consumer-and-producer), which set the kind, it is
/// an error. `kind = server` is the [`server`](#server) role.
///
/// ```text
/// #[observe(span = "Payment.Charge", kind = client)]
/// fn charge(..) { .. }
/// ```
///
/// # `crate`
///
/// `crate = my_facade::observe`: the path generated code names the runtime by,
/// for crates that re-export it. Default `::observe_runtime`. Generated code uses
/// `path::__private` only, so re-export that module, e.g.
/// `#[doc(hidden)] pub use observe_runtime::__private;` or a glob
/// `pub use observe_runtime::*;` inside `path`.
///
/// ```text
/// #[observe(span = "Order.Submit", crate = my_facade::observe)]
/// fn submit(..) { .. }
/// ```
///
/// # `skip`
///
/// `#[observe(skip)]`, alone, on a method of an `#[observe]` impl block: leave
/// that method uninstrumented. Anywhere else it is an error.
///
/// # On an `impl` block
///
/// `#[observe]` on an `impl` block instruments every public method (every method
/// of a trait impl), naming each `Type.Method` (`OrderService.SubmitOrder`). A
/// method's own `#[observe(...)]` refines or renames it; `#[observe(skip)]` opts
/// it out. On the block, `kind`, `metric` and `crate` are defaults for every
/// method, and `span = "Payment"` is a prefix of PascalCase segments
/// (`Payment.OrderService.SubmitOrder`); the other arguments are per method. Two
/// methods with one span name are an error.
///
/// ```text
/// #[observe(span = "Payment", metric = "latency")]
/// impl OrderService {
///     pub fn submit_order(&self) { .. }            // Payment.OrderService.SubmitOrder
///     #[observe(kind = client)]
///     pub fn load(&self) { .. }                    // Payment.OrderService.Load
///     #[observe(skip)]
///     pub fn helper(&self) { .. }                  // not instrumented
/// }
/// ```
///
/// # `consumer` and `producer`
///
/// A messaging span: `consumer` (kind CONSUMER, `messaging.operation.type`
/// `process`) or `producer` (kind PRODUCER, `send`), bare words. One function is
/// not both, and `kind` beside either is an error. A consumer's context and
/// baggage come from the message it reads ([`message`](#message),
/// [`headers`](#headers) or [`messages`](#messages), one of them); a producer
/// writes its own with `observe_runtime::propagation::inject(&mut headers)`.
///
/// ```text
/// #[observe(producer, span = "Orders.Publish", system = "rabbitmq", destination = queue)]
/// async fn publish(channel: &lapin::Channel, queue: &str, order: &[u8]) -> Result<(), lapin::Error> { .. }
/// ```
///
/// # `server`
///
/// `server` (or `kind = server`): a span of kind SERVER for a handler
/// instrumented on its own, without `observe_runtime::http::ObserveLayer`.
/// Its parent and baggage come from the request it reads, one of:
///
/// - `request = req`: an `http::Request<B>` (or a reference to one), as axum,
///   hyper and tonic hand it over; needs observe-runtime's `http` feature. It
///   records `http.request.method`, `url.scheme`, `url.path`,
///   `server.address`, `server.port` and `network.protocol.version`, never
///   the query.
/// - `headers = expr`: any [header carrier](#headers), such as
///   `http::HeaderMap`; only the context and baggage are read.
///
/// `route = "/orders/{id}"` records `http.route`; it is a literal, so a raw
/// path can never become the route (a template starts with `/` and has no
/// query). The span name stays the compile-checked `span` literal, and the
/// [`metric`](#metric) is the operation's histogram, labelled by `operation`
/// and `outcome`; a per-route `http_server_request_duration_seconds` is the
/// layer's. `system`, `destination`, `operation` and `propagation` are
/// messaging arguments, errors here.
///
/// ```text
/// #[observe(server, span = "Api.GetOrder", request = req, route = "/orders/{id}", metric = "latency")]
/// async fn get_order(req: axum::extract::Request) -> Result<Json<Order>, ApiError> { .. }
///
/// #[observe(kind = server, span = "Api.Ping", headers = headers)]
/// async fn ping(headers: http::HeaderMap) -> &'static str { .. }
/// ```
///
/// # `message`
///
/// `message = delivery` (consumer): a lapin `Delivery`, an async-nats `Message`
/// or an rdkafka `BorrowedMessage` / `OwnedMessage`. The trace context, baggage
/// and attributes (`messaging.system`, `messaging.destination.name`, message
/// id, partition, offset) are read from it, so `system` and `destination` beside
/// it are errors. Another type is a type error at the expression.
///
/// ```text
/// #[observe(consumer, span = "Orders.Process", message = delivery)]
/// async fn process(delivery: &lapin::message::Delivery) { .. }
/// ```
///
/// # `headers`
///
/// `headers = expr` (consumer, [server](#server)): any other message, as an expression over the
/// arguments giving a header carrier: `HashMap<String, String>`,
/// `http::HeaderMap`, lapin `FieldTable`, async-nats `HeaderMap`, rdkafka
/// headers, also in an `Option<..>` or behind `&`. Another type is a type error
/// at the expression.
///
/// ```text
/// #[observe(consumer, span = "Orders.Process", headers = delivery.properties.headers(), system = "rabbitmq")]
/// fn process(delivery: &Delivery) { .. }
/// ```
///
/// # `messages`
///
/// `messages = batch` (consumer): a batch, a slice, array, `Vec` or `VecDeque`
/// of messages or header maps. One span, with one link per message's context.
///
/// ```text
/// #[observe(consumer, span = "Orders.Settle", messages = batch)]
/// fn settle(batch: &[Delivery]) { .. }
/// ```
///
/// # `propagation`
///
/// `propagation = "link"` (consumer of one [`message`](#message) or
/// [`headers`](#headers)): start a new trace linked to the producer's span,
/// instead of continuing the producer's trace as its child (`"parent"`, the
/// default). A batch always links, so it is an error with
/// [`messages`](#messages), and on a producer.
///
/// ```text
/// #[observe(consumer, span = "Orders.Process", headers = headers, propagation = "link")]
/// fn process(headers: &HashMap<String, String>) { .. }
/// ```
///
/// # `system` and `destination`
///
/// `system = "rabbitmq"`: `messaging.system`, a value of the OpenTelemetry
/// semantic conventions: `rabbitmq`, `kafka`, `nats`, `activemq`, `aws_sqs`,
/// `aws_sns`, `eventgrid`, `eventhubs`, `servicebus`, `gcp_pubsub`, `jms`,
/// `pulsar`, `rocketmq`, `redis`. `destination = expr`:
/// `messaging.destination.name`, any `Display` expression over the arguments.
/// For [`headers`](#headers) consumers and producers; [`message`](#message)
/// reads both from the message. Default: none. A producer's
/// `messaging.operation.name` is the system's own word (`publish` for
/// RabbitMQ and NATS).
///
/// ```text
/// #[observe(producer, span = "Orders.Publish", system = "kafka", destination = topic)]
/// fn publish(topic: &str) { .. }
/// ```
///
/// # `operation`
///
/// `operation = "receive"`: `messaging.operation.type`, `"process"` (default) or
/// `"receive"` for a consumer, `"send"` (default) or `"create"` for a producer.
///
/// ```text
/// #[observe(consumer, span = "Orders.Poll", headers = headers, operation = "receive")]
/// fn poll(headers: &HashMap<String, String>) { .. }
/// ```
///
/// # Naming policy
///
/// A crate narrows the rules in its `Cargo.toml`; a malformed policy is a
/// compile error naming the file and each problem:
///
/// ```toml
/// [package.metadata.observe]
/// span_domains = ["Order", "Payment"]   # allowed first segments (default: any)
/// min_segments = 2                      # default 2
/// max_segments = 3                      # default 4
/// metric_prefix = "shop"                # custom families must start with `shop_`
/// deny_label_keys = ["tenant"]          # on top of the unbounded words
/// sensitive_keys = ["iban"]             # on top of the built-in words
///
/// [package.metadata.observe.allow]       # explicit exceptions, exact names
/// span_names = ["Legacy.checkout_v1"]
/// label_keys = ["region_id"]
/// sensitive_keys = ["payment.card_brand"]
/// ```
///
/// A macro sees one function at a time, so two functions with one span name are
/// caught over the linked program: `observe_runtime::catalog()` lists every
/// instrumented function from link time, and
/// `observe_runtime::assert_unique_span_names()`, called from one test, fails
/// naming both locations.
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

/// Derives `observe_runtime::Sensitive` for a struct of one field, the
/// personal value itself (`struct Email(String)`), marking it once in the
/// domain model:
///
/// - `#[observe(fields(..))]` refuses it raw, at compile time, pointing at
///   the expression: record `mask(&value)` or `hash(&value)`;
/// - it gets `Debug` and `Display` that print `[REDACTED]`, so a struct
///   holding it shows the field redacted, in spans and in logs;
/// - `observe_runtime::RawText`, through which `mask` and `hash` read its
///   field.
///
/// Do not derive `Debug` or write `Display` for it yourself.
/// `#[sensitive(crate = path)]` names a crate that re-exports the runtime.
///
/// ```text
/// #[derive(Clone, Sensitive)]
/// struct Email(String);
/// ```
#[proc_macro_derive(Sensitive, attributes(sensitive))]
pub fn derive_sensitive(input: TokenStream) -> TokenStream {
    sensitive::derive(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The key matcher `#[observe]` applies (`key_words.rs`), as items for the
/// runtime's log layer to compile: one source, so the two cannot drift.
/// Not a stable API.
#[doc(hidden)]
#[proc_macro]
pub fn __key_words(_input: TokenStream) -> TokenStream {
    // The file's inner doc comment would be an inner attribute here.
    let items: String = include_str!("key_words.rs")
        .lines()
        .filter(|line| !line.starts_with("//!"))
        .flat_map(|line| [line, "\n"])
        .collect();
    items.parse().expect("key_words.rs is Rust")
}
