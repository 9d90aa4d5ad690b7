//! The built-in `/metrics` endpoint: OpenMetrics with exemplars for
//! Prometheus, classic text for everyone else.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::Registry;
use tokio::net::TcpListener;

use crate::signals::metrics::{self, Format};

/// Serves `registry` until the runtime shuts down. A failed connection is
/// that connection's problem only.
pub(crate) async fn serve(listener: TcpListener, registry: &'static Registry) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| respond(req, registry));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn respond(
    req: Request<Incoming>,
    registry: &'static Registry,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            // Prometheus asks for OpenMetrics first, which carries exemplars;
            // browsers and curl get the classic text.
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|value| value.to_str().ok());
            let format = Format::negotiate(accept);
            let body = metrics::encode(&registry.gather(), format);
            Response::builder()
                .header(header::CONTENT_TYPE, format.content_type())
                .header(header::VARY, "Accept")
                .body(Full::new(Bytes::from(body)))
        }
        (_, "/metrics") => Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET")
            .body(Full::new(Bytes::new())),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"not found; try /metrics\n"))),
    };
    Ok(response.expect("static response parts are valid"))
}
