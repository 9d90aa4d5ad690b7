//! A trace crosses RabbitMQ: an observed producer publishes with W3C headers
//! in the AMQP message, an observed consumer in another task continues the
//! producer's trace, and its log lines carry the producer's trace_id.
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest); `.ci/test` starts it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use observe_runtime::propagation::carriers::amqp;
use observe_runtime::{observe, Config, FutureExt as _, LogOutput, SpanContext};
use observe_tests::Capture;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::InMemorySpanExporter;

const URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[observe(span = "Orders.Publish", kind = producer)]
async fn publish(channel: &Channel, queue: &str, order: u32) -> Result<SpanContext, lapin::Error> {
    tracing::info!(order, "publishing");
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            &order.to_be_bytes(),
            BasicProperties::default().with_headers(amqp::headers()),
        )
        .await?
        .await?;
    Ok(observe_runtime::current())
}

#[observe(span = "Orders.Process", kind = consumer)]
async fn process(order: u32) -> SpanContext {
    tracing::info!(order, "processing");
    observe_runtime::current()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_continues_through_rabbitmq() {
    let capture = Capture::default();
    let exporter = InMemorySpanExporter::default();
    let _guard = observe_runtime::init(
        Config::default()
            .service_name("rabbitmq-test")
            .logs(LogOutput::Writer(Arc::new(Mutex::new(capture.clone()))))
            .exporter(exporter.clone()),
    )
    .expect("init");

    let connection = Connection::connect(URI, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| {
            panic!("RabbitMQ must run on 127.0.0.1:5672 (`rabbitmq-server -detached`): {e}")
        });
    let channel = connection.create_channel().await.unwrap();
    let queue = format!("observe-test-{}", std::process::id());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();

    let consumer_channel = connection.create_channel().await.unwrap();
    let mut consumer = consumer_channel
        .basic_consume(
            queue.as_str().into(),
            "observe-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let worker = tokio::spawn(async move {
        let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("a delivery within 10 s")
            .expect("the consumer is open")
            .expect("a delivery");
        let parent = amqp::extract(delivery.properties.headers().as_ref());
        let order = u32::from_be_bytes(delivery.data[..4].try_into().unwrap());
        let seen = process(order).with_context(parent.clone()).await;
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .unwrap();
        (parent, seen)
    });

    let producer = publish(&channel, &queue, 7).await.unwrap();
    let (parent, consumer_span) = worker.await.unwrap();
    assert!(
        parent.remote && parent.is_valid(),
        "the headers carried the context"
    );
    assert_eq!(parent.span_id, producer.span_id);
    assert_eq!(consumer_span.trace_id, producer.trace_id);

    let spans = tokio::task::spawn_blocking(move || observe_tests::flushed(&exporter))
        .await
        .unwrap();
    let publish_span = spans.iter().find(|s| s.name == "Orders.Publish").unwrap();
    let process_span = spans.iter().find(|s| s.name == "Orders.Process").unwrap();
    assert_eq!(publish_span.span_kind, SpanKind::Producer);
    assert_eq!(process_span.span_kind, SpanKind::Consumer);
    assert_eq!(
        process_span.span_context.trace_id(),
        publish_span.span_context.trace_id()
    );
    assert_eq!(
        process_span.parent_span_id,
        publish_span.span_context.span_id()
    );
    assert!(process_span.parent_span_is_remote);

    let lines = capture.json_lines();
    let processing = lines.iter().find(|l| l["message"] == "processing").unwrap();
    assert_eq!(
        processing["trace_id"],
        publish_span.span_context.trace_id().to_string().as_str(),
        "the consumer's log line carries the producer's trace id"
    );
}
