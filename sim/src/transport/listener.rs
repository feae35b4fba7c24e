//! A loopback listener that can be closed and reopened on the same address, the way a
//! machine goes down and comes back: closing stops accepting (connections are refused) and
//! drops every open connection, watches included.
//!
//! Over TLS the client may choose HTTP/2 by ALPN, as with a real API server, and then sends
//! all its requests and watches as streams of one connection; plain HTTP is HTTP/1.1 only
//! (a real API server's secure port is its only one).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::rest::{SimBody, error_response};
use crate::server::counters::{ConnectionStats, Protocol};
use crate::server::error::ApiError;
use crate::transport::Handler;
use crate::transport::pause::Pause;

/// kube-apiserver's `--http2-max-streams-per-connection` default.
pub const HTTP2_MAX_STREAMS: u32 = 1000;

/// The runtime that serves every listener bound from now on, when one was set.
static SERVERS: OnceLock<Handle> = OnceLock::new();

/// Serves the listeners bound from now on, and every connection and request they accept, on
/// `runtime` instead of the runtime that binds them. A benchmark runs the simulated API
/// servers on threads of their own this way, apart from the clients it measures; the first
/// call wins.
pub fn serve_on(runtime: Handle) {
    let _ = SERVERS.set(runtime);
}

/// An open listener; [`Listener::close`] (or dropping it) shuts it and its connections.
#[derive(Debug)]
pub struct Listener {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Listener {
    /// Listens on `addr` (port 0 picks one) and answers every request with `handler`. While
    /// `pause` is set, nothing is accepted (the kernel still completes TCP handshakes into the
    /// backlog) and open connections neither read nor write, TLS handshakes included.
    pub async fn bind(
        addr: SocketAddr,
        handler: Handler,
        tls: Option<TlsAcceptor>,
        pause: Pause,
        stats: Arc<ConnectionStats>,
    ) -> std::io::Result<Listener> {
        let listener = match SERVERS.get() {
            // Bound within the serving runtime, so that its sockets use that runtime's driver.
            Some(servers) => servers
                .spawn(TcpListener::bind(addr))
                .await
                .map_err(std::io::Error::other)??,
            None => TcpListener::bind(addr).await?,
        };
        let addr = listener.local_addr()?;
        let (stop, mut stop_rx) = watch::channel(false);
        let serve = async move {
            let mut conns = JoinSet::new();
            loop {
                let accepted = tokio::select! {
                    a = async {
                        pause.resumed().await;
                        listener.accept().await
                    } => a,
                    _ = stop_rx.changed() => break,
                };
                while conns.try_join_next().is_some() {}
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let stream = pause.wrap(stream);
                let handler = handler.clone();
                let tls = tls.clone();
                let stats = stats.clone();
                conns.spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                let protocol = match s.get_ref().1.alpn_protocol() {
                                    Some(b"h2") => Protocol::Http2,
                                    _ => Protocol::Http1,
                                };
                                stats.count(protocol);
                                serve_conn(handler, s, protocol).await;
                            }
                        }
                        None => {
                            stats.count(Protocol::Http1);
                            serve_conn(handler, stream, Protocol::Http1).await
                        }
                    }
                });
            }
            // Dropping the connection futures closes the sockets mid-request, like a machine
            // that went away.
            conns.shutdown().await;
        };
        let accept = match SERVERS.get() {
            Some(servers) => servers.spawn(serve),
            None => tokio::spawn(serve),
        };
        Ok(Listener { addr, stop, accept })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, drops open connections and waits until they and the port are released.
    pub async fn close(mut self) {
        self.stop.send_replace(true);
        let _ = (&mut self.accept).await;
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn serve_conn<I>(handler: Handler, io: I, protocol: Protocol)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let handler = handler.clone();
        async move {
            let (parts, body) = req.into_parts();
            let resp: Response<SimBody> = match body.collect().await {
                // Its own task: a request whose client gave up on it meanwhile (closed the
                // connection, or reset the HTTP/2 stream) is still handled to the end and
                // answered into the void, as a busy or resumed server does.
                Ok(b) => {
                    let request = Request::from_parts(parts, b.to_bytes());
                    match tokio::spawn(handler(request)).await {
                        Ok(resp) => resp,
                        Err(e) => error_response(&ApiError::Internal(e.to_string())),
                    }
                }
                Err(e) => error_response(&ApiError::BadRequest(e.to_string())),
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    // Connection errors (client resets) end only that connection.
    let io = TokioIo::new(io);
    let _ = match protocol {
        Protocol::Http1 => {
            hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(io, svc)
                .await
        }
        Protocol::Http2 => {
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .max_concurrent_streams(HTTP2_MAX_STREAMS)
                .serve_connection(io, svc)
                .await
        }
    };
}
