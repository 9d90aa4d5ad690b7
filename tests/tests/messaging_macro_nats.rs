//! `#[observe(consumer, message = msg)]` and `headers = ..` against a real
//! NATS server, with no header glue: the consumer span continues the
//! publisher's trace whatever the case of the header names, carries the
//! messaging attributes and the allowlisted baggage (from
//! `OBSERVE_BAGGAGE_ATTRIBUTES`), and `propagation = "link"` starts a new
//! trace linked to the publisher.
//! Needs NATS on 127.0.0.1:4222; `.ci/test` starts it.

use std::time::Duration;

use futures::StreamExt;
use observe_runtime::baggage::{Baggage, BaggageFutureExt as _};
use observe_runtime::propagation::carriers::nats;
use observe_runtime::{observe, Config, LogOutput, SpanContext};
use observe_tests::attribute;
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

#[observe(producer, span = "Orders.Publish", system = "nats", destination = subject)]
async fn publish(
    client: &async_nats::Client,
    subject: String,
    uppercase: bool,
) -> Result<SpanContext, async_nats::Error> {
    let mut headers = nats::headers();
    if uppercase {
        // Another library, or a proxy, wrote the header names differently.
        let mut renamed = async_nats::HeaderMap::new();
        for (name, values) in headers.iter() {
            let name: &str = name.as_ref();
            renamed.insert(name.to_uppercase().as_str(), values[0].as_str());
        }
        headers = renamed;
    }
    headers.insert(async_nats::header::NATS_MESSAGE_ID, "order-7");
    client
        .publish_with_headers(subject, headers, "order".into())
        .await?;
    client.flush().await?;
    Ok(observe_runtime::current())
}

#[observe(consumer, span = "Orders.Process", message = message)]
async fn process(message: &async_nats::Message) -> SpanContext {
    tokio::task::yield_now().await;
    observe_runtime::current()
}

#[observe(
    consumer,
    span = "Orders.Audit",
    headers = message.headers,
    propagation = "link",
    system = "nats",
    destination = message.subject,
    operation = "receive"
)]
fn audit(message: &async_nats::Message) -> SpanContext {
    observe_runtime::current()
}

fn by_id(spans: &[SpanData], context: SpanContext) -> &SpanData {
    spans
        .iter()
        .find(|s| s.span_context.span_id() == SpanId::from(context.span_id))
        .expect("the span is exported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macro_consumer_continues_the_trace_through_nats() {
    let exporter = InMemorySpanExporter::default();
    let _guard = observe_runtime::init(
        Config::from_lookup(&|name| {
            (name == "OBSERVE_BAGGAGE_ATTRIBUTES").then(|| "tenant.id".to_owned())
        })
        .service_name("nats-macro-test")
        .logs(LogOutput::Off)
        .exporter(exporter.clone()),
    )
    .expect("init");
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .unwrap_or_else(|e| {
            panic!("NATS must run on 127.0.0.1:4222 (`nats-server -a 127.0.0.1 -p 4222 -js`): {e}")
        });

    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut cases = Vec::new();
    for uppercase in [false, true] {
        let subject = format!("observe.macro.{}.{run}.{uppercase}", std::process::id());
        let mut subscriber = client.subscribe(subject.clone()).await.unwrap();
        client.flush().await.unwrap();
        let worker = tokio::spawn(async move {
            let message = tokio::time::timeout(Duration::from_secs(10), subscriber.next())
                .await
                .expect("a message within 10 s")
                .expect("the subscription is open");
            (process(&message).await, audit(&message))
        });
        let sent = publish(&client, subject.clone(), uppercase)
            .with_baggage(Baggage::new().with("tenant.id", "acme").with("other", "x"))
            .await
            .unwrap();
        let (processed, audited) = worker.await.unwrap();
        cases.push((subject, sent, processed, audited));
    }

    let spans = tokio::task::spawn_blocking(move || observe_tests::flushed(&exporter))
        .await
        .unwrap();
    for (subject, sent, processed, audited) in cases {
        let publish = by_id(&spans, sent);
        assert_eq!(publish.span_kind, SpanKind::Producer);
        assert_eq!(
            attribute(publish, "messaging.operation.name").as_deref(),
            Some("publish")
        );
        assert_eq!(
            attribute(publish, "messaging.destination.name"),
            Some(subject.clone())
        );
        assert_eq!(
            attribute(publish, "tenant.id").as_deref(),
            Some("acme"),
            "the producer span carries the allowlisted baggage it sends"
        );
        assert_eq!(attribute(publish, "other"), None);

        let process = by_id(&spans, processed);
        assert_eq!(process.span_kind, SpanKind::Consumer, "{subject}");
        assert_eq!(
            process.span_context.trace_id(),
            publish.span_context.trace_id(),
            "{subject}"
        );
        assert_eq!(
            process.parent_span_id,
            publish.span_context.span_id(),
            "{subject}"
        );
        for (key, value) in [
            ("messaging.system", "nats"),
            ("messaging.destination.name", subject.as_str()),
            ("messaging.operation.type", "process"),
            ("messaging.message.id", "order-7"),
            ("messaging.message.body.size", "5"),
            ("tenant.id", "acme"),
        ] {
            assert_eq!(
                attribute(process, key).as_deref(),
                Some(value),
                "{subject} {key}"
            );
        }
        assert_eq!(attribute(process, "other"), None);

        let audit = by_id(&spans, audited);
        assert_ne!(
            audit.span_context.trace_id(),
            publish.span_context.trace_id()
        );
        assert_eq!(audit.parent_span_id, SpanId::INVALID);
        let links: Vec<_> = audit
            .links
            .links
            .iter()
            .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
            .collect();
        assert_eq!(
            links,
            [(
                publish.span_context.trace_id(),
                publish.span_context.span_id()
            )]
        );
        assert_eq!(
            attribute(audit, "messaging.operation.type").as_deref(),
            Some("receive")
        );
        assert_eq!(
            attribute(audit, "messaging.system").as_deref(),
            Some("nats")
        );
        assert_eq!(
            attribute(audit, "messaging.destination.name"),
            Some(subject.clone())
        );
        assert_eq!(attribute(audit, "tenant.id").as_deref(), Some("acme"));
    }
}
