//! How the gateway serves HTTP/1.1: each connection gets a deadline for its
//! request headers (a client trickling them in is cut off instead of holding
//! memory forever), each request a deadline as a whole, and the number of
//! open connections has a cap (beyond it new ones are closed at once). Every
//! refusal the application can see is answered in JSON like any other error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amtstermin_platform::ErrorCode;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_service::Service;

use crate::error::ApiError;

/// Limits of the HTTP server (flags and `AMTSTERMIN_…` variables).
#[derive(Clone, Debug, clap::Args)]
#[group(id = "http_settings")]
pub struct HttpSettings {
    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "AMTSTERMIN_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// Seconds a request may take as a whole, its body included.
    #[arg(long, env = "AMTSTERMIN_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// Open connections at most; further ones are closed at once.
    #[arg(long, env = "AMTSTERMIN_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
}

/// The longest request target answered by the application (8 KiB); hyper
/// itself refuses anything beyond its buffer.
const MAX_URI_BYTES: usize = 8 * 1024;
/// All request headers together at most (16 KiB).
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// hyper's read buffer: a request head larger than this is refused by hyper.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// How long open requests may finish after shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// Refuses over-long targets and header sections with a JSON error, and
/// requests that take longer than `timeout`.
pub async fn limits(timeout: Duration, request: Request, next: Next) -> Response {
    // The request target as sent (origin form); no copy on every request.
    let target = request.uri().path_and_query().map_or(0, |target| target.as_str().len());
    if target > MAX_URI_BYTES {
        return ApiError::new(ErrorCode::UriTooLong, "the request target is longer than 8 KiB").into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::new(ErrorCode::HeadersTooLarge, "the request headers are larger than 16 KiB").into_response();
    }
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::RequestTimeout, "the request took too long").into_response(),
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// requests finish (at most `DRAIN`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: &HttpSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // A malformed header line is dropped, as nginx does, rather than
    // answered by hyper with an empty 400 the application never sees.
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(settings.header_timeout_seconds.max(1)))
        .max_buf_size(READ_BUFFER_BYTES)
        .ignore_invalid_headers(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::warn!("connection cap reached, closing a new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            let mut app = app.clone();
            async move { app.call(request.map(axum::body::Body::new)).await }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that vanished or sent garbage is its own problem.
            let _ = connection.await;
            drop(permit);
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still open after the drain time");
    }
    Ok(())
}
