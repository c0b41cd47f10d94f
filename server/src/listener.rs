//! The connection side of the server: how many clients may hold a connection, how long each may
//! take to send its headers and its body, and how shutdown lets requests in flight finish.
//!
//! `axum::serve` sets none of these, so a client that opens connections and sends its headers one
//! byte at a time could hold the server's sockets and tasks for as long as it liked. Here each
//! connection takes a permit before it is accepted (the rest wait in the kernel's backlog), hyper
//! closes a connection whose headers are not all in by the header timeout, and
//! [`body_deadline`] answers `408` to a request whose body is not all in by the body timeout.
//! A connection the server closes is closed gently ([`serve`]), so that a client still sending a
//! body the server refused reads the refusal instead of a reset.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::error::ApiError;

/// Bounds on connections; every one has a default a public server can start with.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (and, between requests on one connection,
    /// the next request's headers).
    pub header_timeout: Duration,
    /// Time a client has to send a request's body, from the moment its headers are in.
    pub body_timeout: Duration,
    /// Time requests in flight get to finish once a shutdown starts.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Accepts connections until `shutdown` resolves, then gives the open ones
/// [`ConnectionLimits::shutdown_grace`] to finish; a client that holds its connection open cannot
/// keep the process alive.
pub(crate) async fn accept(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let app = app.layer(axum::middleware::from_fn(move |request, next| {
        body_deadline(limits.body_timeout, request, next)
    }));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit?,
            () = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors, or a connection reset before it was accepted: the
                // listener itself is fine, so wait a moment and go on.
                Err(err) => {
                    tracing::warn!("accepting a connection failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                Box::pin(app.clone().oneshot(request.map(Body::new)))
            });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        connections.spawn(serve(connection, stop.clone(), permit));
    }
    drop(listener);
    let _ = stopping.send(true);
    connections.close();
    if tokio::time::timeout(limits.shutdown_grace, connections.wait())
        .await
        .is_err()
    {
        eprintln!(
            "docent: requests still open after {} s; stopping anyway",
            limits.shutdown_grace.as_secs()
        );
    }
    Ok(())
}

/// How long a connection the server closes keeps reading what its client still sends.
const LINGER: Duration = Duration::from_secs(2);
/// The most bytes read from such a client before the connection is dropped.
const LINGER_BYTES: usize = 64 << 20;

/// Serves one connection to its end (finishing its request in flight once `stop` turns true),
/// then closes it gently: when the server answers before reading a whole request (413 for a body
/// over the limit), the client is still sending, and closing at once would reset the connection
/// under it, so that it sees an error instead of the answer. The server's side is shut down first
/// and what the client still sends is read and dropped, for at most [`LINGER`].
async fn serve<S>(
    mut connection: hyper::server::conn::http1::Connection<TokioIo<TcpStream>, S>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = Body> + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut stopping = false;
    let ended = loop {
        tokio::select! {
            ended = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)) => break ended,
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    Pin::new(&mut connection).graceful_shutdown();
                }
            }
        }
    };
    if let Err(err) = ended {
        tracing::debug!("connection ended: {err}");
        return;
    }
    let mut stream = connection.into_parts().io.into_inner();
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut buffer = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(LINGER, async {
        let mut read = 0;
        while read < LINGER_BYTES {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

/// Runs the request, but if its body is still arriving when `timeout` has passed, drops it and
/// answers `408`: a client that trickles its body cannot hold a handler (or a generation slot)
/// open. A request whose body is all in runs as long as it needs to.
async fn body_deadline(timeout: Duration, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let finished = Arc::new(AtomicBool::new(body.is_end_stream()));
    let body = Body::new(Watched {
        inner: body,
        finished: finished.clone(),
    });
    let run = next.run(Request::from_parts(parts, body));
    tokio::pin!(run);
    tokio::select! {
        response = &mut run => return response,
        () = tokio::time::sleep(timeout) => {}
    }
    if finished.load(Ordering::Acquire) {
        return run.await;
    }
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "the request body took longer than {} s to arrive",
            timeout.as_secs()
        ),
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// A request body that records when its last byte has been read.
struct Watched {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
