//! An order pipeline through NATS: a publisher sends a few orders, a
//! subscriber in another task processes them, and each consumer span
//! continues its publisher's trace with no header code in the consumer.
//!
//! ```text
//! cargo run -p observe-examples --features nats --example nats_pipeline
//! ```
//!
//! Needs NATS on 127.0.0.1:4222 (`NATS_URL` overrides). Spans print to
//! stderr; set `OTEL_EXPORTER_OTLP_ENDPOINT` to send them to a collector.
//! Prints the trace id each order shared between publisher and consumer, and
//! exits 0 when every order arrived in its publisher's trace.

use std::time::Duration;

use futures::StreamExt;
use observe_runtime::propagation::carriers::nats;
use observe_runtime::{observe, Config, SpanContext};

const ORDERS: u32 = 3;

#[observe(producer, span = "Orders.Publish", system = "nats", destination = subject)]
async fn publish(
    client: &async_nats::Client,
    subject: &str,
    order: u32,
) -> Result<SpanContext, async_nats::Error> {
    tracing::info!(order, "publishing");
    client
        .publish_with_headers(
            subject.to_owned(),
            nats::headers(),
            order.to_string().into(),
        )
        .await?;
    client.flush().await?;
    Ok(observe_runtime::current())
}

#[observe(consumer, span = "Orders.Process", message = message)]
async fn process(message: &async_nats::Message) -> (u32, SpanContext) {
    let order = std::str::from_utf8(&message.payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    tracing::info!(order, "processing");
    (order, observe_runtime::current())
}

#[tokio::main]
async fn main() -> Result<(), async_nats::Error> {
    let guard = observe_runtime::init(Config::from_env().service_name("nats-pipeline"))?;
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".to_owned());
    let client = async_nats::connect(url).await?;
    let subject = format!("observe.pipeline.{}", std::process::id());
    let mut subscriber = client.subscribe(subject.clone()).await?;
    client.flush().await?;
    let worker = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < ORDERS as usize {
            let next = tokio::time::timeout(Duration::from_secs(10), subscriber.next()).await;
            let Ok(Some(message)) = next else {
                break;
            };
            seen.push(process(&message).await);
        }
        seen
    });

    let mut sent = Vec::new();
    for order in 1..=ORDERS {
        sent.push((order, publish(&client, &subject, order).await?));
    }
    let received = worker.await?;
    drop(guard); // flushes every span

    let mut shared = 0;
    for (order, publisher) in &sent {
        match received.iter().find(|(o, _)| o == order) {
            Some((_, consumer)) if consumer.trace_id == publisher.trace_id => {
                shared += 1;
                println!(
                    "order {order}: trace {} (publisher span {}, consumer span {})",
                    publisher.trace_id_hex(),
                    publisher.span_id_hex(),
                    consumer.span_id_hex()
                );
            }
            Some((_, consumer)) => println!(
                "order {order}: publisher trace {} but consumer trace {}",
                publisher.trace_id_hex(),
                consumer.trace_id_hex()
            ),
            None => println!("order {order}: not received"),
        }
    }
    if shared == sent.len() {
        println!("{shared} orders, each in one trace from publisher to consumer");
        Ok(())
    } else {
        Err(format!("only {shared} of {} orders shared their trace", sent.len()).into())
    }
}
