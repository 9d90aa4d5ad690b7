//! `#[observe(consumer, message = delivery)]` and `#[observe(producer, ..)]`
//! against a real RabbitMQ, with no header glue in the test: the consumer
//! span continues the producer's trace (or links to it with
//! `propagation = "link"`), carries the messaging semantic-convention
//! attributes and the allowlisted baggage, a batch consumer links to every
//! message, and the consumer's log lines carry the producer's trace_id and
//! the allowlisted baggage.
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest); `.ci/test` starts it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use observe_runtime::baggage::{self, Baggage, BaggageFutureExt as _};
use observe_runtime::propagation::carriers::amqp;
use observe_runtime::{observe, Config, LogOutput, SpanContext};
use observe_tests::{attribute, Capture};
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

const URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[observe(producer, span = "Orders.Publish", system = "rabbitmq", destination = queue)]
async fn publish(channel: &Channel, queue: &str, order: u32) -> Result<SpanContext, lapin::Error> {
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

/// What a consumer saw while it ran.
#[derive(Debug)]
struct Seen {
    context: SpanContext,
    tenant: Option<String>,
}

fn seen() -> Seen {
    Seen {
        context: observe_runtime::current(),
        tenant: baggage::current().and_then(|b| b.get("tenant.id").map(str::to_owned)),
    }
}

#[observe(consumer, span = "Orders.Process", message = delivery)]
async fn process(delivery: &Delivery) -> Seen {
    tokio::task::yield_now().await;
    tracing::info!(bytes = delivery.data.len(), "processing");
    seen()
}

#[observe(consumer, span = "Orders.Audit", message = delivery, propagation = "link")]
fn audit(delivery: &Delivery) -> Seen {
    tracing::info!("auditing");
    seen()
}

#[observe(consumer, span = "Orders.Settle", messages = deliveries)]
fn settle(deliveries: &[Delivery]) -> usize {
    deliveries.len()
}

fn find<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("a `{name}` span among {spans:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macro_consumer_continues_the_trace_through_rabbitmq() {
    let capture = Capture::default();
    let exporter = InMemorySpanExporter::default();
    let _guard = observe_runtime::init(
        Config::default()
            .service_name("rabbitmq-macro-test")
            .baggage_attributes(["tenant.id"])
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
    let queue = format!(
        "observe-macro-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
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
            "observe-macro-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let worker = tokio::spawn(async move {
        let mut deliveries = Vec::new();
        while deliveries.len() < 3 {
            let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
                .await
                .expect("a delivery within 10 s")
                .expect("the consumer is open")
                .expect("a delivery");
            deliveries.push(delivery);
        }
        let processed = process(&deliveries[0]).await;
        let audited = audit(&deliveries[1]);
        let settled = settle(&deliveries);
        for delivery in &deliveries {
            delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .unwrap();
        }
        (processed, audited, settled)
    });

    let tenant = Baggage::new()
        .with("tenant.id", "acme")
        .with("internal.note", "not for spans");
    let mut sent = Vec::new();
    for order in 1..=3 {
        sent.push(
            publish(&channel, &queue, order)
                .with_baggage(tenant.clone())
                .await
                .unwrap(),
        );
    }
    let (processed, audited, settled) = worker.await.unwrap();
    assert_eq!(settled, 3);
    assert_eq!(processed.context.trace_id, sent[0].trace_id);
    assert_eq!(processed.tenant.as_deref(), Some("acme"), "baggage arrived");
    assert_eq!(audited.tenant.as_deref(), Some("acme"));
    assert_ne!(audited.context.trace_id, sent[1].trace_id);

    let spans = tokio::task::spawn_blocking(move || observe_tests::flushed(&exporter))
        .await
        .unwrap();
    let published: Vec<&SpanData> = sent
        .iter()
        .map(|c| {
            spans
                .iter()
                .find(|s| s.span_context.span_id() == SpanId::from(c.span_id))
                .expect("every publish span is exported")
        })
        .collect();
    for publish in &published {
        assert_eq!(publish.name, "Orders.Publish");
        assert_eq!(publish.span_kind, SpanKind::Producer);
        assert_eq!(
            attribute(publish, "messaging.system"),
            Some("rabbitmq".into())
        );
        assert_eq!(
            attribute(publish, "messaging.destination.name"),
            Some(queue.clone())
        );
        assert_eq!(
            attribute(publish, "messaging.operation.type"),
            Some("send".into())
        );
        assert_eq!(
            attribute(publish, "messaging.operation.name"),
            Some("publish".into())
        );
    }

    // Default propagation: the producer's span is the parent.
    let process = find(&spans, "Orders.Process");
    assert_eq!(process.span_kind, SpanKind::Consumer);
    assert_eq!(
        process.span_context.trace_id(),
        published[0].span_context.trace_id()
    );
    assert_eq!(process.parent_span_id, published[0].span_context.span_id());
    assert!(process.parent_span_is_remote);
    assert!(process.links.links.is_empty());
    for (key, value) in [
        ("messaging.system", "rabbitmq"),
        ("messaging.destination.name", queue.as_str()),
        ("messaging.rabbitmq.destination.routing_key", queue.as_str()),
        ("messaging.operation.type", "process"),
        ("messaging.operation.name", "process"),
        ("messaging.message.id", "order-1"),
        ("messaging.message.body.size", "4"),
        ("tenant.id", "acme"),
    ] {
        assert_eq!(attribute(process, key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(
        attribute(process, "internal.note"),
        None,
        "only allowlisted baggage becomes attributes"
    );

    // `propagation = "link"`: a new trace, linked to the producer's span.
    let audit = find(&spans, "Orders.Audit");
    assert_eq!(audit.span_kind, SpanKind::Consumer);
    assert_ne!(
        audit.span_context.trace_id(),
        published[1].span_context.trace_id()
    );
    assert_eq!(audit.parent_span_id, SpanId::INVALID);
    assert_eq!(audit.links.links.len(), 1);
    let link = &audit.links.links[0].span_context;
    assert_eq!(
        (link.trace_id(), link.span_id()),
        (
            published[1].span_context.trace_id(),
            published[1].span_context.span_id()
        ),
        "the link is the producer's span"
    );
    assert!(link.is_remote(), "the producer's span came from headers");
    assert_eq!(
        attribute(audit, "messaging.message.id"),
        Some("order-2".into())
    );
    assert_eq!(attribute(audit, "tenant.id"), Some("acme".into()));

    // A batch: one span, one link per message.
    let batch = find(&spans, "Orders.Settle");
    assert_eq!(batch.span_kind, SpanKind::Consumer);
    let ids = |c: &opentelemetry::trace::SpanContext| (c.trace_id(), c.span_id());
    let linked: Vec<_> = batch
        .links
        .links
        .iter()
        .map(|l| ids(&l.span_context))
        .collect();
    let expected: Vec<_> = published.iter().map(|p| ids(&p.span_context)).collect();
    assert_eq!(linked, expected);
    assert_eq!(
        attribute(batch, "messaging.batch.message_count"),
        Some("3".into())
    );

    let lines = capture.json_lines();
    let processing = lines
        .iter()
        .find(|l| l["message"] == "processing")
        .expect("the consumer logged");
    assert_eq!(
        processing["trace_id"],
        published[0].span_context.trace_id().to_string().as_str(),
        "the consumer's log line carries the producer's trace id"
    );
    assert_eq!(processing["tenant.id"], "acme");
    assert!(processing.get("internal.note").is_none());
    let auditing = lines.iter().find(|l| l["message"] == "auditing").unwrap();
    assert_eq!(auditing["tenant.id"], "acme");
    assert_eq!(
        auditing["trace_id"],
        audit.span_context.trace_id().to_string().as_str()
    );
}
