//! A trace crosses Kafka: the producer's W3C headers ride in the record
//! headers through rdkafka's in-process `MockCluster`, and the consumer's span
//! continues the producer's trace.

use std::time::Duration;

use observe_runtime::propagation::carriers::kafka;
use observe_runtime::{observe, FutureExt as _, SpanContext};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

#[observe(span = "Orders.Publish", kind = producer)]
async fn publish(producer: &FutureProducer, topic: &str) -> SpanContext {
    // Headers the application already had stay; the context is added.
    let headers = kafka::inject(OwnedHeaders::new().insert(Header {
        key: "content-type",
        value: Some("application/json"),
    }));
    producer
        .send(
            FutureRecord::to(topic)
                .key("order-7")
                .payload("{}")
                .headers(headers),
            Duration::from_secs(5),
        )
        .await
        .expect("delivered to the mock cluster");
    observe_runtime::current()
}

#[observe(span = "Orders.Process", kind = consumer)]
async fn process() -> SpanContext {
    observe_runtime::current()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_continues_through_kafka() {
    let (exporter, _guard) = observe_tests::init_in_memory("kafka-test");

    let cluster = MockCluster::new(1).expect("mock cluster");
    let topic = "orders";
    cluster
        .create_topic(topic, 1, 1)
        .expect("topic on the mock cluster");
    let servers = cluster.bootstrap_servers();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .expect("producer");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("group.id", "observe-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");

    let sent = publish(&producer, topic).await;
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record within 30 s")
        .expect("a record");
    let parent = kafka::extract(message.headers());
    let seen = process().with_context(parent.clone()).await;
    assert!(parent.remote);
    assert_eq!(parent.span_id, sent.span_id);
    assert_eq!(seen.trace_id, sent.trace_id);

    let spans = tokio::task::spawn_blocking(move || observe_tests::flushed(&exporter))
        .await
        .unwrap();
    let publish_span = spans.iter().find(|s| s.name == "Orders.Publish").unwrap();
    let process_span = spans.iter().find(|s| s.name == "Orders.Process").unwrap();
    assert_eq!(
        process_span.parent_span_id,
        publish_span.span_context.span_id()
    );
    assert_eq!(
        process_span.span_context.trace_id(),
        publish_span.span_context.trace_id()
    );
}
