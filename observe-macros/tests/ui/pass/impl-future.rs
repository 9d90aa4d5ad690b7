//! Plain functions returning `impl Future`.
#![deny(warnings)]

use std::future::Future;
use std::pin::Pin;

use futures::future::BoxFuture;

use observe_runtime::observe;

#[observe(span = "Order.Later")]
fn later(id: u64) -> impl Future<Output = u64> {
    async move { id * 2 }
}

#[observe(span = "Order.Borrowing")]
fn borrowing<'a>(name: &'a str) -> impl Future<Output = usize> + Send + 'a {
    let prefix = name.len();
    async move { prefix + name.len() }
}

#[observe(span = "Order.Ready")]
fn ready_result(ok: bool) -> impl std::future::Future<Output = Result<u8, String>> {
    if !ok {
        return futures::future::ready(Err("not ok".to_owned()));
    }
    futures::future::ready(Ok(1))
}

#[observe(span = "Order.Boxed")]
fn boxed(id: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    let doubled = id * 2;
    ::std::boxed::Box::pin(async move { doubled + 1 })
}

#[observe(span = "Order.Alias")]
fn alias<'a>(name: &'a str) -> BoxFuture<'a, usize> {
    Box::pin(async move { name.len() })
}

struct Client {
    base: String,
}

impl Client {
    #[observe(span = "Client.Call", kind = client, fields(base = self.base.as_str()))]
    fn call(&self, path: &str) -> impl Future<Output = String> + '_ {
        let path = path.to_owned();
        async move { format!("{}{}", self.base, path) }
    }
}

fn main() {
    futures::executor::block_on(async {
        assert_eq!(later(2).await, 4);
        assert_eq!(borrowing("ab").await, 4);
        assert_eq!(ready_result(true).await, Ok(1));
        assert!(ready_result(false).await.is_err());
        assert_eq!(boxed(1).await, 3);
        assert_eq!(alias("abc").await, 3);
        let client = Client {
            base: "http://x".into(),
        };
        assert_eq!(client.call("/y").await, "http://x/y");
    });
}
