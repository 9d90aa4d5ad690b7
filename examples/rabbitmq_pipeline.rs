//! An order pipeline through RabbitMQ: a producer publishes a few orders, a
//! consumer in another task processes them, and each consumer span continues
//! its producer's trace with no header code in the consumer.
//!
//! ```text
//! cargo run -p observe-examples --features amqp --example rabbitmq_pipeline
//! ```
//!
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest; `AMQP_URI` overrides).
//! Spans print to stderr; set `OTEL_EXPORTER_OTLP_ENDPOINT` to send them to
//! a collector. Prints the trace id each order shared between producer and
//! consumer, and exits 0 when every order arrived in its producer's trace.

use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use observe_runtime::baggage::{Baggage, BaggageFutureExt as _};
use observe_runtime::propagation::carriers::amqp;
use observe_runtime::{observe, Config, SpanContext};

const ORDERS: u32 = 3;

#[observe(producer, span = "Orders.Publish", system = "rabbitmq", destination = queue)]
async fn publish(channel: &Channel, queue: &str, order: u32) -> Result<SpanContext, lapin::Error> {
    tracing::info!(order, "publishing");
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            &order.to_be_bytes(),
            BasicProperties::default()
                .with_message_id(format!("order-{order}").into())
                .with_headers(amqp::headers()),
        )
        .await?
        .await?;
    Ok(observe_runtime::current())
}

#[observe(consumer, span = "Orders.Process", message = delivery)]
async fn process(delivery: &Delivery) -> (u32, SpanContext) {
    let order = delivery
        .data
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes);
    tracing::info!(order, "processing");
    (order, observe_runtime::current())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = observe_runtime::init(
        Config::from_env()
            .service_name("rabbitmq-pipeline")
            .baggage_attributes(["tenant.id"]),
    )?;
    let uri = std::env::var("AMQP_URI")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let connection = Connection::connect(&uri, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let queue = format!("observe-pipeline-{}", std::process::id());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let mut consumer = connection
        .create_channel()
        .await?
        .basic_consume(
            queue.as_str().into(),
            "rabbitmq-pipeline".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let worker = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < ORDERS as usize {
            let next = tokio::time::timeout(Duration::from_secs(10), consumer.next()).await;
            let Ok(Some(Ok(delivery))) = next else {
                break;
            };
            seen.push(process(&delivery).await);
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
        }
        seen
    });

    let mut sent = Vec::new();
    for order in 1..=ORDERS {
        let context = publish(&channel, &queue, order)
            .with_baggage(Baggage::new().with("tenant.id", "acme"))
            .await?;
        sent.push((order, context));
    }
    let received = worker.await?;
    drop(guard); // flushes every span

    let mut shared = 0;
    for (order, producer) in &sent {
        match received.iter().find(|(o, _)| o == order) {
            Some((_, consumer)) if consumer.trace_id == producer.trace_id => {
                shared += 1;
                println!(
                    "order {order}: trace {} (producer span {}, consumer span {})",
                    producer.trace_id_hex(),
                    producer.span_id_hex(),
                    consumer.span_id_hex()
                );
            }
            Some((_, consumer)) => println!(
                "order {order}: producer trace {} but consumer trace {}",
                producer.trace_id_hex(),
                consumer.trace_id_hex()
            ),
            None => println!("order {order}: not received"),
        }
    }
    if shared == sent.len() {
        println!("{shared} orders, each in one trace from producer to consumer");
        Ok(())
    } else {
        Err(format!("only {shared} of {} orders shared their trace", sent.len()).into())
    }
}
