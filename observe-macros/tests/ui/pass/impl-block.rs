//! `#[observe]` on an impl block: every public method is instrumented and
//! named `Type.Method`; `skip` opts out, a method's own attribute refines or
//! renames it, and the block's `kind`/`metric` are defaults.
#![deny(warnings)]

use async_trait::async_trait;
use observe_runtime::observe;

pub struct OrderService {
    orders: Vec<u64>,
}

#[observe(kind = server, metric = "latency")]
impl OrderService {
    /// `OrderService.New`.
    pub fn new() -> Self {
        OrderService { orders: Vec::new() }
    }

    /// `OrderService.SubmitOrder`, with a field.
    #[observe(fields(order.id = id))]
    pub fn submit_order(&mut self, id: u64) -> Result<u64, String> {
        self.validate(id)?;
        self.orders.push(id);
        Ok(id)
    }

    /// Renamed, and a client rather than the block's server.
    #[observe(span = "Order.Count", kind = client)]
    pub fn count(&self) -> usize {
        self.orders.len()
    }

    /// `OrderService.Load`: async methods too.
    pub async fn load(&self, index: usize) -> Option<u64> {
        self.orders.get(index).copied()
    }

    /// Opted out.
    #[observe(skip)]
    pub fn len_fast(&self) -> usize {
        self.orders.len()
    }

    /// Private: not instrumented unless asked.
    fn validate(&self, id: u64) -> Result<(), String> {
        if id == 0 {
            return Err("zero".into());
        }
        Ok(())
    }

    /// A public `const fn` cannot be observed and is left alone.
    pub const fn limit() -> usize {
        100
    }
}

/// `span` on the block is a prefix: `Payment.Gateway.Charge`.
pub struct Gateway;

#[observe(span = "Payment")]
impl Gateway {
    pub(crate) fn charge(&self, cents: u64) -> u64 {
        cents
    }
}

#[async_trait]
pub trait Repository {
    async fn get(&self, id: u64) -> Option<u64>;
    fn name(&self) -> &str;
}

/// Trait methods are as public as the trait: all instrumented,
/// `OrderService.Get` and `OrderService.Name`.
#[observe]
#[async_trait]
impl Repository for OrderService {
    async fn get(&self, id: u64) -> Option<u64> {
        self.orders.iter().copied().find(|o| *o == id)
    }

    fn name(&self) -> &str {
        "orders"
    }
}

fn main() {
    let mut service = OrderService::new();
    assert_eq!(service.submit_order(7), Ok(7));
    assert!(service.submit_order(0).is_err());
    assert_eq!(service.count(), 1);
    assert_eq!(service.len_fast(), 1);
    assert_eq!(OrderService::limit(), 100);
    assert_eq!(Gateway.charge(5), 5);
    futures::executor::block_on(async {
        assert_eq!(service.load(0).await, Some(7));
        assert_eq!(service.get(7).await, Some(7));
    });
    assert_eq!(service.name(), "orders");
}
