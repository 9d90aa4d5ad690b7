//! A trace crosses NATS: the publisher's W3C headers reach an observed
//! subscriber in another task, which continues the trace even when a hop
//! rewrote the header names' case. Needs NATS on 127.0.0.1:4222; `.ci/test`
//! starts it.

use std::time::Duration;

use futures::StreamExt;
use observe_runtime::propagation::carriers::nats;
use observe_runtime::{observe, FutureExt as _, SpanContext};

#[observe(span = "Orders.Publish", kind = producer)]
async fn publish(
    client: &async_nats::Client,
    subject: String,
    uppercase: bool,
) -> Result<SpanContext, async_nats::Error> {
    let mut headers = async_nats::HeaderMap::new();
    let context = observe_runtime::current();
    if uppercase {
        // Another library, or a proxy, wrote the header name differently.
        let mut plain = std::collections::HashMap::new();
        observe_runtime::propagation::inject(&mut plain);
        headers.insert("Traceparent", plain["traceparent"].as_str());
    } else {
        nats::inject(&mut headers);
    }
    client
        .publish_with_headers(subject, headers, "order".into())
        .await?;
    client.flush().await?;
    Ok(context)
}

#[observe(span = "Orders.Process", kind = consumer)]
async fn process() -> SpanContext {
    observe_runtime::current()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_continues_through_nats() {
    let (exporter, _guard) = observe_tests::init_in_memory("nats-test");
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .unwrap_or_else(|e| {
            panic!("NATS must run on 127.0.0.1:4222 (`nats-server -a 127.0.0.1 -p 4222 -js`): {e}")
        });

    for uppercase in [false, true] {
        let subject = format!("observe.test.{}.{uppercase}", std::process::id());
        let mut subscriber = client.subscribe(subject.clone()).await.unwrap();
        client.flush().await.unwrap();
        let worker = tokio::spawn(async move {
            let message = tokio::time::timeout(Duration::from_secs(10), subscriber.next())
                .await
                .expect("a message within 10 s")
                .expect("the subscription is open");
            let parent = nats::extract(message.headers.as_ref());
            let seen = process().with_context(parent.clone()).await;
            (parent, seen)
        });
        let producer = publish(&client, subject, uppercase).await.unwrap();
        let (parent, consumer) = worker.await.unwrap();
        assert!(parent.remote, "uppercase={uppercase}");
        assert_eq!(parent.span_id, producer.span_id, "uppercase={uppercase}");
        assert_eq!(
            consumer.trace_id, producer.trace_id,
            "uppercase={uppercase}"
        );
    }

    let spans = tokio::task::spawn_blocking(move || observe_tests::flushed(&exporter))
        .await
        .unwrap();
    let processes: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "Orders.Process")
        .collect();
    assert_eq!(processes.len(), 2);
    for process in processes {
        let publisher = spans
            .iter()
            .find(|s| {
                s.name == "Orders.Publish" && s.span_context.span_id() == process.parent_span_id
            })
            .expect("each consumer span's parent is a publisher span");
        assert_eq!(
            publisher.span_context.trace_id(),
            process.span_context.trace_id()
        );
    }
}
