//! The in-process axum router both the HTTP bench (`benches/http_layer.rs`)
//! and its callgrind driver (`examples/profile_http.rs`) send requests to.

use axum::body::Body;
use axum::routing::get;
use axum::Router;

async fn order() -> &'static str {
    "an order"
}

/// One route with a template, answered without work.
pub fn router() -> Router {
    Router::new().route("/orders/{id}", get(order))
}

/// `GET /orders/42`, no headers.
pub fn request() -> axum::http::Request<Body> {
    axum::http::Request::get("/orders/42")
        .body(Body::empty())
        .unwrap()
}

/// What a layer that does nothing costs inside axum's router.
pub fn router_with_a_no_op_layer() -> Router {
    router().layer(tower::util::MapRequestLayer::new(
        |request: axum::http::Request<Body>| request,
    ))
}
