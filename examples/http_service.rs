//! Two HTTP services and a gRPC service in one process, so one trace
//! crosses three hops: a `frontend` (axum) takes orders and asks a
//! `backend` (axum) over reqwest, which reserves stock from an `inventory`
//! service over gRPC (tonic).
//!
//! ```sh
//! cargo run -p observe-examples --features http-service --example http_service
//! cargo run -p observe-examples --features http-service --example http_service -- --serve
//! ```
//!
//! It sends a bounded workload of orders to the frontend and prints where
//! each signal went; with `--serve` it keeps serving the frontend on
//! `127.0.0.1:8080` (and `/metrics` on `127.0.0.1:9464`) until Ctrl-C or
//! SIGTERM.
//!
//! The wiring is the layers alone: `ObserveLayer` on both axum routers,
//! `ObserveMiddleware` on the reqwest client, `GrpcServerLayer` on the tonic
//! server and `GrpcClientLayer` on its channel.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use observe_runtime::grpc::{GrpcClientLayer, GrpcServerLayer};
use observe_runtime::http::{ObserveLayer, ObserveMiddleware};
use observe_runtime::Config;
use reqwest_middleware::ClientWithMiddleware;
use tonic::codegen::http;

// ---------------------------------------------------------------------------
// The inventory's gRPC contract, `shop.Inventory/Reserve`, as tonic's code
// generator would write it (messages with prost's derive, so no `protoc`).

#[derive(Clone, PartialEq, prost::Message)]
struct ReserveRequest {
    #[prost(string, tag = "1")]
    sku: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReserveReply {
    #[prost(uint32, tag = "1")]
    left: u32,
}

const RESERVE: &str = "/shop.Inventory/Reserve";

/// The inventory: SKUs ending in 9 are out of stock.
#[derive(Clone, Copy, Default)]
struct Inventory;

impl tonic::server::UnaryService<ReserveRequest> for Inventory {
    type Response = ReserveReply;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<tonic::Response<ReserveReply>, tonic::Status>>
                + Send,
        >,
    >;

    fn call(&mut self, request: tonic::Request<ReserveRequest>) -> Self::Future {
        Box::pin(async move {
            let sku = request.into_inner().sku;
            tokio::time::sleep(Duration::from_millis(2)).await;
            if sku.ends_with('9') {
                tracing::warn!(%sku, "out of stock");
                return Err(tonic::Status::failed_precondition(format!(
                    "{sku} is out of stock"
                )));
            }
            tracing::info!(%sku, "reserved");
            Ok(tonic::Response::new(ReserveReply { left: 7 }))
        })
    }
}

impl tonic::server::NamedService for Inventory {
    const NAME: &'static str = "shop.Inventory";
}

impl tower::Service<http::Request<tonic::body::Body>> for Inventory {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() != RESERVE {
                return Ok(tonic::Status::unimplemented("no such method").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(Inventory, request).await)
        })
    }
}

type InventoryClient =
    tonic::client::Grpc<observe_runtime::grpc::GrpcService<tonic::transport::Channel>>;

async fn reserve(inventory: &mut InventoryClient, sku: String) -> Result<u32, tonic::Status> {
    inventory
        .ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let reply: tonic::Response<ReserveReply> = inventory
        .unary(
            tonic::Request::new(ReserveRequest { sku }),
            http::uri::PathAndQuery::from_static(RESERVE),
            tonic_prost::ProstCodec::default(),
        )
        .await?;
    Ok(reply.into_inner().left)
}

// ---------------------------------------------------------------------------
// The two HTTP services.

/// The backend: `/stock/{sku}` reserves the SKU at the inventory.
async fn stock(
    State(inventory): State<InventoryClient>,
    Path(sku): Path<String>,
) -> Result<String, StatusCode> {
    let mut inventory = inventory;
    match reserve(&mut inventory, sku.clone()).await {
        Ok(left) => Ok(format!("{sku}: {left} left")),
        Err(status) if status.code() == tonic::Code::FailedPrecondition => {
            Err(StatusCode::CONFLICT)
        }
        Err(_) => Err(StatusCode::BAD_GATEWAY),
    }
}

#[derive(Clone)]
struct Frontend {
    backend: SocketAddr,
    client: ClientWithMiddleware,
}

/// The frontend: `/orders/{id}` asks the backend for the order's SKU.
async fn order(State(frontend): State<Frontend>, Path(id): Path<u64>) -> (StatusCode, String) {
    tracing::info!(order.id = id, "order received");
    let sku = format!("SKU-{}", id % 10);
    let url = format!("http://{}/stock/{sku}", frontend.backend);
    match frontend.client.get(url).send().await {
        Ok(answer) if answer.status().is_success() => {
            (StatusCode::OK, answer.text().await.unwrap_or_default())
        }
        Ok(answer) if answer.status() == reqwest::StatusCode::CONFLICT => {
            tracing::warn!(order.id = id, %sku, "out of stock");
            (StatusCode::CONFLICT, format!("{sku} is out of stock"))
        }
        _ => (StatusCode::BAD_GATEWAY, "the backend failed".into()),
    }
}

async fn bind(addr: &str) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve = std::env::args().any(|a| a == "--serve");
    let mut config = Config::from_env()
        .service_name("http-service")
        .service_version(env!("CARGO_PKG_VERSION"))
        .environment("demo");
    if std::env::var_os("OBSERVE_METRICS_ADDR").is_none() {
        config = config.metrics_addr(
            if serve {
                "127.0.0.1:9464"
            } else {
                "127.0.0.1:0"
            }
            .parse()?,
        );
    }
    let guard = observe_runtime::init(config)?;

    // The inventory, over gRPC.
    let (inventory_listener, inventory_addr) = bind("127.0.0.1:0").await?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(Inventory)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(
                inventory_listener,
            )),
    );
    let origin: http::Uri = format!("http://{inventory_addr}").parse()?;
    let channel = tonic::transport::Endpoint::from(origin.clone()).connect_lazy();
    let inventory = tonic::client::Grpc::with_origin(
        tower::ServiceBuilder::new()
            .layer(GrpcClientLayer::new())
            .service(channel),
        origin,
    );

    // The backend, over HTTP.
    let backend_app = Router::new()
        .route("/stock/{sku}", get(stock))
        .with_state(inventory)
        .layer(ObserveLayer::new());
    let (backend_listener, backend) = bind("127.0.0.1:0").await?;
    tokio::spawn(async move { axum::serve(backend_listener, backend_app).await });

    // The frontend, over HTTP, calling the backend through reqwest.
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ObserveMiddleware::new())
        .build();
    let frontend_app = Router::new()
        .route("/orders/{id}", get(order))
        .with_state(Frontend { backend, client })
        .layer(ObserveLayer::new());
    let (frontend_listener, frontend) = bind(if serve {
        "127.0.0.1:8080"
    } else {
        "127.0.0.1:0"
    })
    .await?;

    if serve {
        eprintln!(
            "serving http://{frontend}/orders/{{id}} and http://{}/metrics; Ctrl-C or SIGTERM to stop",
            guard.metrics_addr().expect("metrics are served")
        );
        let signal = observe_runtime::shutdown_signal();
        axum::serve(frontend_listener, frontend_app)
            .with_graceful_shutdown(async move {
                signal.await;
            })
            .await?;
        drop(guard);
        return Ok(());
    }
    tokio::spawn(async move { axum::serve(frontend_listener, frontend_app).await });

    // A bounded workload from a client outside every service.
    let outside = reqwest::Client::new();
    let mut outcomes = std::collections::BTreeMap::new();
    for id in 1..=20 {
        let status = outside
            .get(format!("http://{frontend}/orders/{id}"))
            .send()
            .await?
            .status();
        *outcomes.entry(status.as_u16()).or_insert(0) += 1;
    }
    let metrics = observe_runtime::metrics::render();
    drop(guard); // flushes every span

    println!();
    println!("20 orders through frontend -> backend -> inventory: status {outcomes:?}");
    println!("where each signal went:");
    println!("  spans   -> stderr, one line per span; each order is one trace of 5 spans");
    println!("             (frontend SERVER, reqwest CLIENT, backend SERVER, gRPC CLIENT, inventory SERVER)");
    println!("  logs    -> stdout, one JSON line per event with trace_id and span_id");
    println!("  metrics -> by family and outcome:");
    for line in metrics.lines().filter(|l| {
        (l.starts_with("http_server_request_duration_seconds_count")
            || l.starts_with("http_client_request_duration_seconds_count")
            || l.starts_with("rpc_server_duration_seconds_count")
            || l.starts_with("rpc_client_duration_seconds_count"))
            && !l.ends_with(" 0")
    }) {
        println!("             {line}");
    }
    Ok(())
}
