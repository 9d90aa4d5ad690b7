//! `tracestate` passes through observe unchanged: a message arrives over a
//! real NATS server with the W3C specification's `traceparent` and
//! `tracestate`, an observed consumer forwards it, and the forwarded message
//! and the exported consumer span carry the same `tracestate`.
//! Needs NATS on 127.0.0.1:4222; `.ci/test` starts it.

use std::time::Duration;

use futures::StreamExt;
use observe_runtime::propagation::carriers::nats;
use observe_runtime::{observe, SpanContext};
use opentelemetry::trace::{SpanId, TraceId};

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TRACESTATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

#[observe(consumer, span = "Orders.Forward", message = message)]
async fn forward(
    client: &async_nats::Client,
    message: &async_nats::Message,
    next: String,
) -> Result<SpanContext, async_nats::Error> {
    client
        .publish_with_headers(next, nats::headers(), message.payload.clone())
        .await?;
    client.flush().await?;
    Ok(observe_runtime::current())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracestate_survives_an_observed_hop() {
    let (exporter, _guard) = observe_tests::init_in_memory("tracestate-test");
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (.ci/test starts it)");
    let run = std::process::id();
    let (incoming, outgoing) = (
        format!("observe.tracestate.in.{run}"),
        format!("observe.tracestate.out.{run}"),
    );
    let mut inbox = client.subscribe(incoming.clone()).await.unwrap();
    let mut outbox = client.subscribe(outgoing.clone()).await.unwrap();
    client.flush().await.unwrap();

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("traceparent", TRACEPARENT);
    headers.insert("tracestate", TRACESTATE);
    client
        .publish_with_headers(incoming, headers, "order".into())
        .await
        .unwrap();
    client.flush().await.unwrap();

    let message = tokio::time::timeout(Duration::from_secs(10), inbox.next())
        .await
        .expect("the message arrives")
        .unwrap();
    let consumer = forward(&client, &message, outgoing).await.unwrap();
    let forwarded = tokio::time::timeout(Duration::from_secs(10), outbox.next())
        .await
        .expect("the forwarded message arrives")
        .unwrap();
    let headers = forwarded.headers.expect("headers");
    let traceparent = headers.get("traceparent").expect("traceparent").as_str();
    assert_eq!(
        traceparent,
        format!(
            "00-0af7651916cd43dd8448eb211c80319c-{}-01",
            consumer.span_id_hex()
        ),
        "the same trace, the consumer span as parent"
    );
    assert_eq!(
        headers.get("tracestate").map(|v| v.as_str()),
        Some(TRACESTATE)
    );

    let spans = tokio::task::spawn_blocking(move || observe_tests::flushed(&exporter))
        .await
        .unwrap();
    let span = spans
        .iter()
        .find(|s| s.span_context.span_id() == SpanId::from(consumer.span_id))
        .expect("the consumer span is exported");
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
    );
    assert_eq!(span.span_context.trace_state().header(), TRACESTATE);
}
