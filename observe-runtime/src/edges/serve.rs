//! The built-in `/metrics` endpoint: OpenMetrics with exemplars for
//! Prometheus, classic text for everyone else.
//!
//! No client can starve it or the process:
//! - it runs on a thread and runtime of its own, so a flood of connections
//!   never slows span export, and export never delays a scrape;
//! - a request header must arrive within [`HEADER_READ_TIMEOUT`], and may be
//!   at most [`MAX_HEADER_BYTES`]; a request body is never read;
//! - at most [`MAX_CONNECTIONS`] are open. When a new one arrives at the
//!   cap, the oldest idle connection (no request in progress) is closed to
//!   make room, so a scrape gets in past any number of silent connections;
//!   when every slot is serving, the new one is refused. Both are counted in
//!   `observe_metrics_connections_rejected_total{reason}`;
//! - a failed `accept` (out of file descriptors) closes the oldest idle
//!   connection to free one, or else backs off instead of spinning; it is
//!   counted.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::debug;
use crate::core::health::health;
use crate::signals::metrics::{self, Format};

/// Connections open at once: far more than the scrapers of one process.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request header, on a new
/// connection or between requests on a kept-alive one.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request header read; a longer one is answered 431.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;
/// A connection still writing its response after this long is stuck (a
/// client that stopped reading); at the cap it may be closed like an idle one.
const STUCK_AFTER: Duration = Duration::from_secs(10);
/// The longest pause after a failed `accept`; the first is 5 ms.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The running server; dropping it stops the server and closes every
/// connection.
pub(crate) struct MetricsServer {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves `registry` on `listener` from a thread named `observe-metrics`,
    /// and the debug pages beside it when `pages` is set.
    pub(crate) fn start(
        listener: StdListener,
        registry: &'static Registry,
        pages: bool,
    ) -> io::Result<MetricsServer> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("observe-metrics".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = serve(listener, registry, pages) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here closes every open connection.
            })?;
        Ok(MetricsServer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Counts a connection closed or refused, by one of
/// [`REJECT_REASONS`](crate::core::health::REJECT_REASONS).
fn reject(reason: &str) {
    health()
        .metrics_connections_rejected
        .with_label_values(&[reason])
        .inc();
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: BTreeMap<u64, Connection>,
}

struct Connection {
    /// When its current response began, in ms since `epoch` plus one; 0
    /// while it waits for a request.
    busy_since: Arc<AtomicU64>,
    close: oneshot::Sender<()>,
}

impl Connections {
    /// Makes room for one more connection: `None` when every slot is busy,
    /// `Some(true)` when an idle one was closed for it.
    fn admit(&mut self, now_ms: u64) -> Option<bool> {
        if self.open.len() < MAX_CONNECTIONS {
            return Some(false);
        }
        self.evict(now_ms).then_some(true)
    }

    /// Closes the oldest idle connection, or else the oldest stuck one:
    /// `false` when there is none.
    fn evict(&mut self, now_ms: u64) -> bool {
        let stuck_ms = STUCK_AFTER.as_millis() as u64;
        let evictable = self
            .open
            .iter()
            .find(|(_, c)| c.busy_since.load(Ordering::Relaxed) == 0)
            .or_else(|| {
                self.open.iter().find(|(_, c)| {
                    let since = c.busy_since.load(Ordering::Relaxed);
                    now_ms.saturating_sub(since.saturating_sub(1)) >= stuck_ms
                })
            })
            .map(|(id, _)| *id);
        match evictable.and_then(|id| self.open.remove(&id)) {
            Some(connection) => {
                let _ = connection.close.send(());
                reject("idle_evicted");
                true
            }
            None => false,
        }
    }
}

async fn serve(listener: TcpListener, registry: &'static Registry, pages: bool) {
    let connections = Arc::new(Mutex::new(Connections::default()));
    let epoch = Instant::now();
    let mut backoff = Duration::ZERO;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                stream
            }
            Err(_) => {
                // EMFILE and the like: the pending connection stays in the
                // backlog. An idle connection of ours gives its descriptor
                // back for it; with none to close, retrying at once would
                // only spin.
                reject("accept_error");
                let evicted = connections
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .evict(epoch.elapsed().as_millis() as u64);
                if evicted {
                    tokio::task::yield_now().await;
                } else {
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), MAX_ACCEPT_BACKOFF);
                    tokio::time::sleep(backoff).await;
                }
                continue;
            }
        };
        let busy_since = Arc::new(AtomicU64::new(0));
        let (close, closed) = oneshot::channel();
        let (id, evicted) = {
            let mut open = connections.lock().unwrap_or_else(|e| e.into_inner());
            let Some(evicted) = open.admit(epoch.elapsed().as_millis() as u64) else {
                reject("limit");
                continue;
            };
            let id = open.next_id;
            open.next_id += 1;
            open.open.insert(
                id,
                Connection {
                    busy_since: busy_since.clone(),
                    close,
                },
            );
            (id, evicted)
        };
        if evicted {
            // Lets the evicted connection's task run and close its socket
            // before the next accept takes another descriptor.
            tokio::task::yield_now().await;
        }
        let connections = connections.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let busy = Busy::start(&busy_since, epoch);
                async move {
                    Ok::<_, Infallible>(
                        respond(req, registry, pages).map(|body| Tracked { body, _busy: busy }),
                    )
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => {
                    if result.is_err_and(|e| e.is_timeout()) {
                        reject("header_timeout");
                    }
                }
                // Evicted: dropping the connection closes its socket.
                _ = closed => {}
            }
            connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .open
                .remove(&id);
        });
    }
}

/// Marks a connection busy from the moment its request is read until its
/// response body is written and dropped.
struct Busy(Arc<AtomicU64>);

impl Busy {
    fn start(flag: &Arc<AtomicU64>, epoch: Instant) -> Busy {
        flag.store(epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
        Busy(flag.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// A response body that keeps its connection marked busy while it lives.
struct Tracked {
    body: Full<Bytes>,
    _busy: Busy,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

fn respond(
    req: Request<Incoming>,
    registry: &'static Registry,
    pages: bool,
) -> Response<Full<Bytes>> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, path) if pages && debug::is_debug_path(path) => {
            let page = debug::respond(path, req.uri().query());
            Response::builder()
                .status(page.status)
                .header(header::CONTENT_TYPE, page.content_type)
                .header(header::CACHE_CONTROL, "no-store")
                .body(Full::new(Bytes::from(page.body)))
        }
        (_, path) if pages && debug::is_debug_path(path) => Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET")
            .body(Full::new(Bytes::new())),
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
    response.expect("static response parts are valid")
}

/// Whether serving on `addr` exposes `/metrics` beyond this machine.
pub(crate) fn is_exposed(addr: SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::is_exposed;

    #[test]
    fn only_loopback_addresses_are_private() {
        for private in ["127.0.0.1:9464", "[::1]:9464", "127.0.0.53:80"] {
            assert!(!is_exposed(private.parse().unwrap()), "{private}");
        }
        for exposed in ["0.0.0.0:9464", "[::]:9464", "10.0.0.7:9464"] {
            assert!(is_exposed(exposed.parse().unwrap()), "{exposed}");
        }
    }
}
