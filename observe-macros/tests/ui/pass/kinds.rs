//! Every `kind`.
#![deny(warnings)]

use observe_runtime::observe;

#[observe(span = "Kind.Default")]
fn default_kind() {}

#[observe(span = "Kind.Internal", kind = internal)]
fn internal() {}

#[observe(span = "Kind.Server", kind = server)]
fn server() {}

#[observe(span = "Kind.Client", kind = client)]
fn client() {}

#[observe(span = "Kind.Producer", kind = producer)]
fn producer() {}

#[observe(span = "Kind.Consumer", kind = consumer, metric = "latency")]
fn consumer() {}

fn main() {
    default_kind();
    internal();
    server();
    client();
    producer();
    consumer();
}
