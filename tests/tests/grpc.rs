//! gRPC through tonic over a loopback socket, with `GrpcServerLayer` on a
//! real tonic server and `GrpcClientLayer` around a real tonic `Channel`
//! (the service is OTLP's `TraceService`, whose generated code the tests
//! crate already has): one trace from an observed caller through the client
//! span to the server span, the RPC attributes, the status from the
//! trailers by the semantic conventions' rules for each side, the server
//! handler's log line, and the two duration histograms.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use observe_runtime::grpc::{GrpcClientLayer, GrpcServerLayer};
use observe_runtime::observe;
use observe_tests::{attribute, Capture};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

const METHOD: &str = "opentelemetry.proto.collector.trace.v1.TraceService/Export";
const SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";

/// Answers by the request's resource: `dropped_attributes_count` 14 is
/// UNAVAILABLE, 3 INVALID_ARGUMENT, anything else OK.
struct Stock;

#[tonic::async_trait]
impl TraceService for Stock {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let code = request
            .get_ref()
            .resource_spans
            .first()
            .and_then(|r| r.resource.as_ref())
            .map_or(0, |r| r.dropped_attributes_count);
        tracing::info!(code, "in the grpc handler");
        match code {
            14 => Err(tonic::Status::unavailable("the stock service is down")),
            3 => Err(tonic::Status::invalid_argument("no such item")),
            _ => Ok(tonic::Response::new(ExportTraceServiceResponse::default())),
        }
    }
}

struct Setup {
    addr: SocketAddr,
    exporter: InMemorySpanExporter,
    capture: Capture,
    runtime: tokio::runtime::Handle,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let (exporter, capture) = observe_tests::init_for_process("grpc-test", |config| config);
        let runtime = observe_tests::process_runtime();
        let addr = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(
                tonic::transport::Server::builder()
                    .layer(GrpcServerLayer::new())
                    .add_service(TraceServiceServer::new(Stock))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
            );
            addr
        });
        Setup {
            addr,
            exporter,
            capture,
            runtime: runtime.handle().clone(),
        }
    })
}

#[observe(span = "Grpc.Reserve")]
async fn reserve(addr: SocketAddr, code: u32) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let service = tower::ServiceBuilder::new()
        .layer(GrpcClientLayer::new())
        .service(channel);
    // The origin makes `server.address` and `server.port` known to the
    // layer, which sees the request before the channel adds it.
    let mut client =
        TraceServiceClient::with_origin(service, format!("http://{addr}").parse().unwrap());
    let request = ExportTraceServiceRequest {
        resource_spans: vec![opentelemetry_proto::tonic::trace::v1::ResourceSpans {
            resource: Some(Resource {
                dropped_attributes_count: code,
                ..Resource::default()
            }),
            ..Default::default()
        }],
    };
    client.export(request).await?;
    Ok(())
}

/// The caller's span and, in its trace, the client and server spans.
fn call(code: u32) -> (SpanData, SpanData, SpanData) {
    let setup = setup();
    let result = setup.runtime.block_on(reserve(setup.addr, code));
    assert_eq!(result.is_ok(), code == 0, "{result:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(observe_runtime::force_flush(Duration::from_secs(10)));
        let spans = setup.exporter.get_finished_spans().unwrap();
        let caller = spans.iter().find(|s| {
            s.name == "Grpc.Reserve"
                && spans.iter().any(|server| {
                    server.span_kind == SpanKind::Server
                        && server.span_context.trace_id() == s.span_context.trace_id()
                        && attribute(server, "rpc.grpc.status_code").as_deref()
                            == Some(&*match code {
                                14 => "14".to_owned(),
                                3 => "3".to_owned(),
                                _ => "0".to_owned(),
                            })
                })
        });
        if let Some(caller) = caller {
            let in_trace = |kind: SpanKind| {
                spans
                    .iter()
                    .find(|s| {
                        s.span_kind == kind
                            && s.span_context.trace_id() == caller.span_context.trace_id()
                    })
                    .cloned()
                    .unwrap()
            };
            return (
                caller.clone(),
                in_trace(SpanKind::Client),
                in_trace(SpanKind::Server),
            );
        }
        assert!(
            Instant::now() < deadline,
            "no spans for code {code}: {spans:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_call_is_one_trace_across_client_and_server() {
    let (caller, client, server) = call(0);
    assert_eq!(client.name, METHOD);
    assert_eq!(server.name, METHOD);
    assert_eq!(client.parent_span_id, caller.span_context.span_id());
    assert_eq!(server.parent_span_id, client.span_context.span_id());
    for span in [&client, &server] {
        for (key, value) in [
            ("rpc.system", "grpc"),
            ("rpc.service", SERVICE),
            ("rpc.method", "Export"),
            ("rpc.grpc.status_code", "0"),
        ] {
            assert_eq!(attribute(span, key).as_deref(), Some(value), "{key}");
        }
        assert_eq!(span.status, Status::Unset);
    }
    assert_eq!(
        attribute(&client, "server.port").as_deref(),
        Some(setup().addr.port().to_string().as_str())
    );
    let lines = setup().capture.json_lines();
    let line = lines
        .iter()
        .find(|l| {
            l["message"] == "in the grpc handler"
                && l["trace_id"] == server.span_context.trace_id().to_string()
        })
        .expect("the handler's line");
    assert_eq!(line["span_id"], server.span_context.span_id().to_string());
}

#[test]
fn unavailable_is_an_error_on_both_sides() {
    let (_, client, server) = call(14);
    for span in [&client, &server] {
        assert!(matches!(span.status, Status::Error { .. }), "{}", span.name);
        assert_eq!(
            attribute(span, "error.type").as_deref(),
            Some("UNAVAILABLE")
        );
        assert_eq!(
            attribute(span, "rpc.grpc.status_code").as_deref(),
            Some("14")
        );
    }
}

#[test]
fn invalid_argument_is_the_clients_error_only() {
    let (_, client, server) = call(3);
    assert!(matches!(client.status, Status::Error { .. }));
    assert_eq!(
        attribute(&client, "error.type").as_deref(),
        Some("INVALID_ARGUMENT")
    );
    assert_eq!(server.status, Status::Unset);
    assert_eq!(
        attribute(&server, "rpc.grpc.status_code").as_deref(),
        Some("3")
    );
}

#[test]
fn calls_are_observed_in_the_rpc_histograms() {
    call(0);
    let text = observe_runtime::metrics::render();
    observe_tests::check_with_promtool(&text);
    for family in ["rpc_server_duration_seconds", "rpc_client_duration_seconds"] {
        let series = format!(
            "{family}_count{{error_type=\"\",rpc_grpc_status_code=\"0\",rpc_method=\"Export\",\
             rpc_service=\"{SERVICE}\",rpc_system=\"grpc\"}} "
        );
        assert!(
            text.lines().any(|l| l.starts_with(&series)),
            "{series} in:\n{text}"
        );
    }
}
