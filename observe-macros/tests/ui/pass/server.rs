//! Handlers instrumented one by one: `server` (or `kind = server`) with the
//! request or its headers, on every function shape.
#![deny(warnings)]

use http::{HeaderMap, Request};
use observe_runtime::observe;

#[derive(Debug)]
struct NotFound;

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such order")
    }
}

impl std::error::Error for NotFound {}

#[observe(server, span = "Api.GetOrder", request = req, route = "/orders/{id}")]
fn get_order(req: Request<()>) -> Result<String, NotFound> {
    Ok(req.uri().path().to_owned())
}

#[observe(server, span = "Api.PostOrder", request = &req, metric = "latency")]
async fn post_order(req: Request<Vec<u8>>) -> Result<usize, NotFound> {
    Ok(req.into_body().len())
}

#[observe(server, span = "Api.Borrowed", request = req)]
async fn borrowed(req: &Request<Vec<u8>>) -> usize {
    req.body().len()
}

#[observe(kind = server, span = "Api.Test", headers = headers)]
async fn from_headers(headers: HeaderMap) -> usize {
    headers.len()
}

#[observe(kind = server, span = "Api.TestSync", headers = &headers)]
fn from_headers_sync(headers: HeaderMap) -> usize {
    headers.len()
}

#[observe(server, span = "Api.Health", route = "/health")]
fn health() {}

#[observe(kind = server, span = "Api.Plain")]
fn plain() {}

fn main() {
    let _ = get_order(Request::new(()));
    let _ = post_order(Request::new(Vec::new()));
    let request = Request::new(vec![1]);
    let _ = borrowed(&request);
    let _ = from_headers(HeaderMap::new());
    let _ = from_headers_sync(HeaderMap::new());
    health();
    plain();
}
