//! `async fn`, as free functions and methods, including native async trait
//! methods.
#![deny(warnings)]

use std::io;

use observe_runtime::observe;

#[observe(span = "Order.Load")]
async fn load(id: u64) -> u64 {
    id + 1
}

#[observe(span = "Order.Nothing")]
async fn nothing() {}

#[observe(span = "Order.Fetch", fields(order.id = id))]
async fn fallible(id: u64) -> io::Result<u64> {
    if id == 0 {
        return Err(io::Error::other("zero"));
    }
    let loaded = load(id).await;
    let checked: u64 = loaded.to_string().parse().map_err(io::Error::other)?;
    Ok(checked)
}

#[observe(span = "Order.Generic")]
async fn generic<T>(value: T) -> T
where
    T: Send + Clone,
{
    value.clone()
}

#[observe(span = "Order.Display")]
async fn returns_impl_trait() -> impl std::fmt::Display {
    5
}

struct Store {
    name: String,
    hits: u32,
}

impl Store {
    #[observe(span = "Store.Name", fields(store = self.name.as_str()))]
    async fn name(&self) -> &str {
        &self.name
    }

    #[observe(span = "Store.Hit")]
    async fn hit(&mut self) -> &mut u32 {
        self.hits += 1;
        &mut self.hits
    }

    #[observe(span = "Store.Close")]
    async fn close(self) -> String {
        self.name
    }
}

trait Repository {
    async fn get(&self, id: u64) -> anyhow::Result<u64>;
}

impl Repository for Store {
    #[observe(span = "Store.Get", kind = client)]
    async fn get(&self, id: u64) -> anyhow::Result<u64> {
        anyhow::ensure!(id != 0, "no order 0");
        Ok(id + u64::from(self.hits))
    }
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

/// A body that always diverges compiles without an unreachable-code warning.
#[observe(span = "Order.Crash")]
async fn crash(reason: &str) -> u64 {
    futures::future::ready(()).await;
    panic!("{reason}");
}

fn main() {
    let _never_polled = crash("unused");
    futures::executor::block_on(async {
        assert_eq!(assert_send(load(1)).await, 2);
        nothing().await;
        assert!(fallible(0).await.is_err());
        assert_eq!(assert_send(fallible(2)).await.unwrap(), 3);
        assert_eq!(generic("x").await, "x");
        assert_eq!(returns_impl_trait().await.to_string(), "5");
        let mut store = Store {
            name: "main".into(),
            hits: 0,
        };
        assert_eq!(store.name().await, "main");
        *store.hit().await += 1;
        assert_eq!(store.get(1).await.unwrap(), 3);
        assert!(store.get(0).await.is_err());
        assert_eq!(store.close().await, "main");
    });
}
