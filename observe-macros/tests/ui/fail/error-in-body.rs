//! A mistake inside the body is reported at the user's line in every shape,
//! with no second error pointing at the attribute.
use std::future::Future;

use async_trait::async_trait;
use observe_runtime::observe;

#[observe(span = "Order.Submit", metric = "latency")]
fn submit(id: u64) -> Result<u64, String> {
    let label: String = id;
    Ok(label.len() as u64)
}

#[observe(span = "Order.Load")]
async fn load(id: u64) -> u64 {
    id.to_string()
}

#[observe(span = "Order.Later")]
fn later(id: u64) -> impl Future<Output = u64> {
    async move { id.to_string() }
}

#[async_trait]
trait Repository {
    async fn get(&self, id: u64) -> u64;
}

struct Memory;

#[async_trait]
impl Repository for Memory {
    #[observe(span = "Memory.Get")]
    async fn get(&self, id: u64) -> u64 {
        id.to_string()
    }
}

fn main() {}
