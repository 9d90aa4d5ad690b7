//! Consumers and producers: every message source, on every function shape.
#![deny(warnings)]

use std::collections::HashMap;

use observe_runtime::observe;

#[observe(consumer, span = "Orders.Process", headers = headers)]
fn from_map(headers: &HashMap<String, String>) -> usize {
    headers.len()
}

#[observe(
    consumer,
    span = "Orders.Receive",
    headers = delivery.properties.headers(),
    propagation = "link",
    system = "rabbitmq",
    destination = delivery.routing_key,
    operation = "receive"
)]
async fn from_amqp_headers(delivery: lapin::message::Delivery) -> Vec<u8> {
    delivery.data
}

#[observe(consumer, span = "Orders.Process", message = delivery, propagation = "parent")]
fn from_delivery(delivery: &lapin::message::Delivery) -> Result<(), std::io::Error> {
    let _ = delivery.redelivered;
    Ok(())
}

#[observe(consumer, span = "Orders.Process", message = &message)]
fn from_nats(message: async_nats::Message) -> async_nats::Subject {
    message.subject
}

/// A borrowed message and a future that borrows it (rdkafka's types in this
/// role are compiled by `tests/tests/messaging_macro_kafka.rs`).
#[observe(consumer, span = "Orders.Process", message = delivery)]
fn from_delivery_later(delivery: &lapin::message::Delivery) -> impl std::future::Future<Output = bool> + '_ {
    async move { delivery.redelivered }
}

#[observe(consumer, span = "Orders.Settle", messages = batch)]
async fn settle(batch: Vec<HashMap<String, String>>) -> usize {
    batch.len()
}

#[observe(consumer, span = "Orders.Settle", messages = deliveries)]
fn settle_deliveries(deliveries: &[lapin::message::Delivery]) -> usize {
    deliveries.len()
}

#[observe(producer, span = "Orders.Publish", system = "kafka", destination = topic)]
fn publish(topic: &str) -> HashMap<String, String> {
    let mut headers = HashMap::new();
    observe_runtime::propagation::inject(&mut headers);
    headers
}

struct Worker;

#[async_trait::async_trait]
trait Handle {
    async fn handle(&self, headers: HashMap<String, String>) -> usize;
}

#[async_trait::async_trait]
impl Handle for Worker {
    #[observe(consumer, span = "Orders.Handle", headers = headers)]
    async fn handle(&self, headers: HashMap<String, String>) -> usize {
        headers.len()
    }
}

fn main() {
    let headers = HashMap::new();
    from_map(&headers);
    let _ = publish("orders");
    let _ = from_amqp_headers;
    let _ = from_delivery;
    let _ = from_nats;
    let _ = from_delivery_later;
    let _ = settle(vec![headers]);
    let _ = settle_deliveries(&[]);
    let _ = Worker.handle(HashMap::new());
}
