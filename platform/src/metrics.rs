//! Prometheus metrics. One registry per process (the all-in-one's three
//! services share it): the gateway renders it at `/metrics`, a gRPC service
//! on its metrics listener (`--…-metrics-listen`). The names are listed in
//! the README; `docs/grafana-dashboard.json` shows them.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Latency buckets in seconds, from a fast slot read to an outage.
const BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// What Prometheus expects of a scrape.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's registry as the `metrics` recorder (once; later
/// calls do nothing). Until then, recorded values go nowhere.
pub fn install() {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().set_buckets(&BUCKETS).ok()?.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder came first; its values are not ours to render.
        metrics::set_global_recorder(recorder).ok()?;
        Some(handle)
    });
}

/// The text Prometheus scrapes (empty before `install`).
pub fn render() -> String {
    match HANDLE.get() {
        Some(Some(handle)) => {
            handle.run_upkeep();
            handle.render()
        }
        _ => String::new(),
    }
}

/// Serves the metrics on `listener`, at any path, until `shutdown`.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    install();
    let accept = async {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "metrics listener cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            tokio::spawn(async move {
                let scrape = hyper::service::service_fn(|_request| async { Ok::<_, Infallible>(scrape()) });
                let connection = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(connection, scrape)
                    .await;
            });
        }
    };
    tokio::select! {
        () = accept => {}
        () = shutdown => {}
    }
}

fn scrape() -> http::Response<String> {
    let mut response = http::Response::new(render());
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// Counts and times every gRPC call a server handles, by service, method
/// and status code: `amtstermin_grpc_server_handled_total` and
/// `amtstermin_grpc_server_handling_seconds` (until the response starts;
/// for a stream, until it opens).
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

#[derive(Clone, Debug)]
pub struct GrpcMetrics<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (service, method) = grpc_names(request.uri().path());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            // Errors come "trailers-only", in the headers; a success has its
            // status in the trailers, after the body.
            let code = match &response {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .map_or(tonic::Code::Ok, |code| tonic::Code::from_bytes(code.as_bytes())),
                Err(_) => tonic::Code::Unavailable,
            };
            let labels = [
                ("grpc_service", service.clone()),
                ("grpc_method", method.clone()),
                ("grpc_code", format!("{code:?}")),
            ];
            metrics::counter!("amtstermin_grpc_server_handled_total", &labels).increment(1);
            metrics::histogram!(
                "amtstermin_grpc_server_handling_seconds",
                "grpc_service" => service,
                "grpc_method" => method
            )
            .record(started.elapsed().as_secs_f64());
            response
        })
    }
}

/// "/pkg.Service/Method" as ("pkg.Service", "Method").
fn grpc_names(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    (service.to_owned(), method.to_owned())
}

/// The connections of a database pool, by state: what
/// `amtstermin_db_pool_connections` reports.
pub fn pool_connections(service: &'static str, pool: &'static str, (size, idle): (u32, usize)) {
    let idle = idle as f64;
    let labels = |state: &'static str| [("service", service), ("pool", pool), ("state", state)];
    metrics::gauge!("amtstermin_db_pool_connections", &labels("idle")).set(idle);
    metrics::gauge!("amtstermin_db_pool_connections", &labels("in_use")).set((f64::from(size) - idle).max(0.0));
}

#[cfg(test)]
mod tests {
    #[test]
    fn grpc_paths_name_service_and_method() {
        assert_eq!(
            super::grpc_names("/amtstermin.booking.v1.BookingService/CreateBooking"),
            (
                "amtstermin.booking.v1.BookingService".to_owned(),
                "CreateBooking".to_owned()
            )
        );
        assert_eq!(super::grpc_names("/"), (String::new(), String::new()));
    }
}
