//! `#[observe(consumer, message = record)]` over rdkafka's in-process
//! `MockCluster`, with no header glue: the consumer span continues the
//! producer's trace and carries the topic, partition and offset, and the
//! baggage arrives.

use std::time::Duration;

use observe_runtime::baggage::{self, Baggage, BaggageFutureExt as _};
use observe_runtime::propagation::carriers::kafka;
use observe_runtime::{observe, Config, LogOutput, SpanContext};
use observe_tests::attribute;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

#[observe(producer, span = "Orders.Publish", system = "kafka", destination = topic)]
async fn publish(producer: &FutureProducer, topic: &str) -> SpanContext {
    producer
        .send(
            FutureRecord::to(topic)
                .key("order-7")
                .payload("{}")
                .headers(kafka::headers()),
            Duration::from_secs(5),
        )
        .await
        .expect("delivered to the mock cluster");
    observe_runtime::current()
}

#[observe(consumer, span = "Orders.Process", message = record)]
async fn process(record: &BorrowedMessage<'_>) -> (SpanContext, Option<String>) {
    let tenant = baggage::current().and_then(|b| b.get("tenant.id").map(str::to_owned));
    (observe_runtime::current(), tenant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macro_consumer_continues_the_trace_through_kafka() {
    let exporter = InMemorySpanExporter::default();
    let _guard = observe_runtime::init(
        Config::default()
            .service_name("kafka-macro-test")
            .baggage_attributes(["tenant.id"])
            .logs(LogOutput::Off)
            .exporter(exporter.clone()),
    )
    .expect("init");

    let cluster = MockCluster::new(1).expect("mock cluster");
    let topic = format!("orders-{}", std::process::id());
    cluster
        .create_topic(&topic, 1, 1)
        .expect("topic on the mock cluster");
    let servers = cluster.bootstrap_servers();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .expect("producer");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("group.id", "observe-macro-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic.as_str()]).expect("subscribe");

    let sent = publish(&producer, &topic)
        .with_baggage(Baggage::new().with("tenant.id", "acme"))
        .await;
    let record = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record within 30 s")
        .expect("a record");
    let (seen, tenant) = process(&record).await;
    assert_eq!(seen.trace_id, sent.trace_id);
    assert_eq!(tenant.as_deref(), Some("acme"), "baggage arrived");
    let (partition, offset) = (record.partition(), record.offset());
    drop(record);

    let spans = tokio::task::spawn_blocking(move || observe_tests::flushed(&exporter))
        .await
        .unwrap();
    let publish_span = spans.iter().find(|s| s.name == "Orders.Publish").unwrap();
    let process_span = spans.iter().find(|s| s.name == "Orders.Process").unwrap();
    assert_eq!(publish_span.span_kind, SpanKind::Producer);
    assert_eq!(
        attribute(publish_span, "messaging.operation.name").as_deref(),
        Some("send")
    );
    assert_eq!(process_span.span_kind, SpanKind::Consumer);
    assert_eq!(
        process_span.parent_span_id,
        publish_span.span_context.span_id()
    );
    assert_eq!(
        process_span.span_context.trace_id(),
        publish_span.span_context.trace_id()
    );
    for (key, value) in [
        ("messaging.system", "kafka".to_owned()),
        ("messaging.destination.name", topic.clone()),
        ("messaging.destination.partition.id", partition.to_string()),
        ("messaging.kafka.offset", offset.to_string()),
        ("messaging.kafka.message.key", "order-7".to_owned()),
        ("messaging.operation.type", "process".to_owned()),
        ("tenant.id", "acme".to_owned()),
    ] {
        assert_eq!(attribute(process_span, key), Some(value), "{key}");
    }
}
