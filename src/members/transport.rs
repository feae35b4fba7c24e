//! The HTTP stack of a member client: kube's request layers (base URL, bearer token, extra
//! headers) over a hyper client whose connection buffers and idle pool are bounded.
//!
//! hyper grows a connection's read buffer while a large response streams in (up to ~400 KB
//! by default, reached while a watcher reads a LIST page of hundreds of objects) and the
//! connection keeps that capacity for as long as it lives. A member's watches hold their
//! connections for hours, so at a thousand members those buffers were most of the operator's
//! heap. The bound only limits how much is read from the socket at once: a body of any length
//! streams through in pieces, and only a response head (status line and headers) has to fit.
//!
//! Over TLS the client offers HTTP/2, as client-go does: then every watch and request to a
//! member is a stream of one connection, instead of a connection per watch (each with its TLS
//! state and buffers on both ends, and a file descriptor). HTTP/2 flow control bounds what is
//! buffered per stream and per connection, and pings find a connection that went dead
//! silently, which would otherwise stall every watch on it. A request's headers and body go
//! out in one write ([`super::write_batching`]).

use crate::members::in_flight::InFlightLimitLayer;
use crate::members::write_batching::BatchedWrites;
use http::{HeaderValue, Uri};
use hyper::rt::{Read, Write};
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{Body, ClientBuilder, ConfigExt};
use std::sync::Arc;
use std::time::Duration;
use tower::{BoxError, Service, ServiceBuilder};

/// The most a member connection buffers: one TLS record's worth. A response head must fit
/// (an API server's are well under 1 KB); bodies are read through it in pieces.
pub const MAX_BUF_SIZE: usize = 16 * 1024;

/// How long an unused pooled connection to a member is kept. Health probes come more often
/// than this, so a healthy member keeps one warm connection for them.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Unused connections kept per member. Writes to a member come in bursts bounded by the
/// in-flight limit; keeping every connection of a burst would hold its TLS state and buffers
/// until the idle timeout for the next burst, which may be hours away.
pub const POOL_MAX_IDLE: usize = 2;

/// What an HTTP/2 member may send on one stream before the operator has read it: hyper's
/// 2 MiB default would let a burst of large LIST pages from a thousand members sit in memory;
/// this still carries a page per round trip.
pub const HTTP2_STREAM_WINDOW: u32 = 256 * 1024;
/// The same for the whole connection, which every watch and request to the member shares:
/// room for 16 streams whose readers are behind, so a few stalled watches cannot take the
/// window the member's other watches, writes and health probes need.
pub const HTTP2_CONNECTION_WINDOW: u32 = 16 * HTTP2_STREAM_WINDOW;

/// The HPACK table the member may use for the headers it sends (SETTINGS_HEADER_TABLE_SIZE).
/// A member's responses repeat few headers worth indexing, and the default 4 KiB table costs
/// ~8 KB a member once filled, so the member sends every header literally.
pub const HTTP2_HEADER_TABLE_SIZE: u32 = 0;

/// How long an HTTP/2 connection may be silent before it is pinged, and how long the answer
/// may take before the connection (and every watch on it) is dropped and dialled again.
/// client-go's ReadIdleTimeout and PingTimeout.
pub const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);
pub const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a member client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("spec.proxyURL {0:?}: scheme must be http, https or socks5")]
    ProxyScheme(String),
    #[error("spec.proxyURL: credentials cannot be sent as a header: {0}")]
    ProxyCredentials(String),
}

/// A client for one member from its config (see [`super::connection::member_config`]), with
/// `limit` bounding the requests awaiting an answer.
pub fn member_client(
    config: &kube::Config,
    limit: &InFlightLimitLayer,
) -> Result<kube::Client, TransportError> {
    let tls = tls_config(config)?;
    let mut tcp = HttpConnector::new();
    // The scheme is checked by the TLS connector on top, which needs plain TCP underneath.
    tcp.enforce_http(false);
    // As Go's dialer (so client-go) does: a small write (an HTTP/2 frame, a TLS record) goes
    // out at once instead of waiting for the ACK of the previous one, ~40 ms with delayed ACKs.
    tcp.set_nodelay(true);
    let Some(proxy) = config.proxy_url.as_ref() else {
        return assemble(tcp, config, tls, limit);
    };
    match proxy.scheme_str() {
        Some("socks5") => assemble(SocksV5::new(proxy.clone(), tcp), config, tls, limit),
        Some("http") => {
            let tunnel = with_proxy_auth(Tunnel::new(proxy.clone(), tcp), proxy)?;
            assemble(tunnel, config, tls, limit)
        }
        Some("https") => {
            // TLS to the proxy, then TLS to the member through the tunnel. The CONNECT is
            // HTTP/1.1, so that is all the proxy is offered.
            let mut proxy_tls = (*tls).clone();
            proxy_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            let to_proxy = hyper_rustls::HttpsConnector::from((tcp, Arc::new(proxy_tls)));
            let tunnel = with_proxy_auth(Tunnel::new(proxy.clone(), to_proxy), proxy)?;
            assemble(tunnel, config, tls, limit)
        }
        _ => Err(TransportError::ProxyScheme(proxy.to_string())),
    }
}

/// TLS sessions kept for resumption per member. A member client talks to one server name
/// (two with an https proxy); rustls' default table for 256 names is allocated up front.
pub const TLS_SESSIONS: usize = 4;

/// The rustls settings of a member: its CA bundle or none checked, HTTP/2 preferred.
fn tls_config(config: &kube::Config) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let mut tls = config.rustls_client_config()?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tls.resumption = rustls::client::Resumption::in_memory_sessions(TLS_SESSIONS);
    Ok(Arc::new(tls))
}

/// `Proxy-Authorization: Basic` from the proxy URL's user info, if it has any.
fn with_proxy_auth<C>(tunnel: Tunnel<C>, proxy: &Uri) -> Result<Tunnel<C>, TransportError> {
    match proxy_basic_auth(proxy)? {
        Some(header) => Ok(tunnel.with_auth(header)),
        None => Ok(tunnel),
    }
}

/// The `Basic` credentials of a proxy URL's `user:password@`, percent-escapes decoded (a URL
/// can only carry `@`, `:` or `%` in a password escaped, and the proxy expects them plain).
pub fn proxy_basic_auth(proxy: &Uri) -> Result<Option<HeaderValue>, TransportError> {
    use base64::Engine;
    let Some((userinfo, _)) = proxy.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
        return Ok(None);
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(percent_decode(userinfo));
    HeaderValue::from_str(&format!("Basic {encoded}"))
        .map(Some)
        .map_err(|e| TransportError::ProxyCredentials(e.to_string()))
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
            .flatten();
        match escaped {
            Some((high, low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// TLS (for https members), timeouts and the bounded hyper client over `connector`, and the
/// request layers on top.
fn assemble<C>(
    connector: C,
    config: &kube::Config,
    tls: Arc<rustls::ClientConfig>,
    limit: &InFlightLimitLayer,
) -> Result<kube::Client, TransportError>
where
    C: Service<Uri> + Clone + Send + Sync + 'static,
    C::Response: Connection + Read + Write + Send + Unpin + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    // Plain http members are let through: the scheme of the member's URL decides.
    let https = hyper_rustls::HttpsConnector::from((connector, tls));
    let mut timed = TimeoutConnector::new(https);
    timed.set_connect_timeout(config.connect_timeout);
    timed.set_read_timeout(config.read_timeout);
    timed.set_write_timeout(config.write_timeout);
    timed.set_reset_reader_on_write(config.reset_reader_on_write);
    let batched = ServiceBuilder::new()
        .map_response(BatchedWrites::new)
        .service(timed);
    let hyper_client = hyper_util::client::legacy::Builder::new(TokioExecutor::new())
        .http1_max_buf_size(MAX_BUF_SIZE)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE)
        // Without a timer idle connections are only dropped when the pool is next used.
        .pool_timer(TokioTimer::new())
        .http2_initial_stream_window_size(HTTP2_STREAM_WINDOW)
        .http2_initial_connection_window_size(HTTP2_CONNECTION_WINDOW)
        .http2_header_table_size(HTTP2_HEADER_TABLE_SIZE)
        .http2_keep_alive_interval(HTTP2_PING_INTERVAL)
        .http2_keep_alive_timeout(HTTP2_PING_TIMEOUT)
        .timer(TokioTimer::new())
        .build::<_, Body>(batched);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper_client);
    Ok(
        ClientBuilder::new(service, config.default_namespace.clone())
            .with_layer(limit)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members::connection::{ConnectionSpec, member_config};
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams, WatchEvent, WatchParams};
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;

    /// Far larger than [`MAX_BUF_SIZE`], and than hyper's own default bound.
    const BIG: usize = 1 << 20;

    fn big_config_map() -> String {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "big", "namespace": "default", "resourceVersion": "7"},
            "data": {"blob": "x".repeat(BIG)},
        })
        .to_string()
    }

    /// Reads a request (or CONNECT) head; `None` once the peer closed.
    async fn read_head(stream: &mut TcpStream) -> Option<String> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            head.push(byte[0]);
        }
        Some(String::from_utf8_lossy(&head).into_owned())
    }

    /// A member API that serves one big ConfigMap, by GET (with a length) and as a single
    /// watch event (in one chunk), to requests with the bearer token `t`; it sends every
    /// request head it got to `heads`.
    async fn big_object_server(heads: mpsc::UnboundedSender<String>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let heads = heads.clone();
                tokio::spawn(async move {
                    while let Some(head) = read_head(&mut stream).await {
                        let _ = heads.send(head.clone());
                        let lower = head.to_ascii_lowercase();
                        let length = lower
                            .lines()
                            .find_map(|line| line.strip_prefix("content-length: "))
                            .and_then(|n| n.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        let mut body = vec![0u8; length];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let response = if !lower.contains("authorization: bearer t\r\n") {
                            "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n".to_string()
                        } else if lower.contains("watch=true") {
                            let event =
                                format!("{{\"type\":\"ADDED\",\"object\":{}}}\n", big_config_map());
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                 transfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n0\r\n\r\n",
                                event.len()
                            )
                        } else if head.starts_with("POST ") {
                            // A create answers with what was sent.
                            let body = String::from_utf8_lossy(&body);
                            format!(
                                "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\n\r\n{body}",
                                body.len()
                            )
                        } else {
                            let body = big_config_map();
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\n\r\n{body}",
                                body.len()
                            )
                        };
                        if stream.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn client_for(endpoint: &str, proxy: Option<&str>) -> kube::Client {
        let spec = ConnectionSpec {
            api_endpoint: endpoint,
            proxy_url: proxy,
            token: "t",
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let connection = member_config(&spec).unwrap();
        member_client(&connection.config, &InFlightLimitLayer::new(4)).unwrap()
    }

    async fn reads_the_big_object(client: kube::Client) {
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let big: ConfigMap = serde_json::from_str(&big_config_map()).unwrap();
        let created = api.create(&PostParams::default(), &big).await.unwrap();
        assert_eq!(created.data.unwrap()["blob"].len(), BIG);
        let got = api.get("big").await.unwrap();
        assert_eq!(got.data.unwrap()["blob"].len(), BIG);
        let stream = api.watch(&WatchParams::default(), "0").await.unwrap();
        futures::pin_mut!(stream);
        match stream.next().await {
            Some(Ok(WatchEvent::Added(cm))) => assert_eq!(cm.data.unwrap()["blob"].len(), BIG),
            other => panic!("expected the big object's watch event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn bodies_and_watch_events_larger_than_the_buffer_are_read_whole() {
        let (heads, mut seen) = mpsc::unbounded_channel();
        let addr = big_object_server(heads).await;
        reads_the_big_object(client_for(&format!("http://{addr}"), None)).await;
        assert!(
            seen.recv()
                .await
                .unwrap()
                .starts_with("POST /api/v1/namespaces/default/configmaps")
        );
    }

    /// An HTTP CONNECT proxy that tunnels to wherever it is asked, sending each CONNECT
    /// head to `heads`.
    async fn connect_proxy(heads: mpsc::UnboundedSender<String>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let heads = heads.clone();
                tokio::spawn(async move {
                    let Some(head) = read_head(&mut client).await else {
                        return;
                    };
                    let _ = heads.send(head.clone());
                    let target = head
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    if client.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn an_http_proxy_tunnels_with_the_url_credentials() {
        let (server_heads, _server_seen) = mpsc::unbounded_channel();
        let member = big_object_server(server_heads).await;
        let (heads, mut seen) = mpsc::unbounded_channel();
        let proxy = connect_proxy(heads).await;
        let client = client_for(
            &format!("http://{member}"),
            Some(&format!("http://user:s%40cret@{proxy}")),
        );
        reads_the_big_object(client).await;
        let head = seen.recv().await.unwrap();
        assert!(head.starts_with(&format!("CONNECT {member} ")), "{head}");
        use base64::Engine;
        let credentials = base64::engine::general_purpose::STANDARD.encode("user:s@cret");
        assert!(
            head.to_ascii_lowercase().contains(&format!(
                "proxy-authorization: basic {}",
                credentials.to_ascii_lowercase()
            )),
            "{head}"
        );
    }

    /// A SOCKS5 proxy (no authentication, IPv4 and domain targets) sending each target it
    /// is asked for to `targets`.
    async fn socks5_proxy(targets: mpsc::UnboundedSender<String>) -> SocketAddr {
        async fn handshake(client: &mut TcpStream) -> std::io::Result<String> {
            let mut greeting = [0u8; 2];
            client.read_exact(&mut greeting).await?;
            let mut methods = vec![0u8; usize::from(greeting[1])];
            client.read_exact(&mut methods).await?;
            client.write_all(&[5, 0]).await?;
            let mut request = [0u8; 4];
            client.read_exact(&mut request).await?;
            let host = match request[3] {
                1 => {
                    let mut ip = [0u8; 4];
                    client.read_exact(&mut ip).await?;
                    std::net::Ipv4Addr::from(ip).to_string()
                }
                3 => {
                    let mut len = [0u8; 1];
                    client.read_exact(&mut len).await?;
                    let mut name = vec![0u8; usize::from(len[0])];
                    client.read_exact(&mut name).await?;
                    String::from_utf8_lossy(&name).into_owned()
                }
                _ => return Err(std::io::Error::other("address type not supported here")),
            };
            let mut port = [0u8; 2];
            client.read_exact(&mut port).await?;
            Ok(format!("{host}:{}", u16::from_be_bytes(port)))
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let targets = targets.clone();
                tokio::spawn(async move {
                    let Ok(target) = handshake(&mut client).await else {
                        return;
                    };
                    let _ = targets.send(target.clone());
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    let reply = [5, 0, 0, 1, 0, 0, 0, 0, 0, 0];
                    if client.write_all(&reply).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_socks5_proxy_carries_the_connection() {
        let (server_heads, _server_seen) = mpsc::unbounded_channel();
        let member = big_object_server(server_heads).await;
        let (targets, mut seen) = mpsc::unbounded_channel();
        let proxy = socks5_proxy(targets).await;
        let client = client_for(
            &format!("http://{member}"),
            Some(&format!("socks5://{proxy}")),
        );
        reads_the_big_object(client).await;
        assert_eq!(seen.recv().await.unwrap(), member.to_string());
    }

    /// A client for a simulated member served over TLS (its CA bundle trusted), through the
    /// HTTP CONNECT proxy at `proxy` if given.
    async fn tls_member(proxy: Option<SocketAddr>) -> (kubefed_sim::Cluster, kube::Client) {
        let member = kubefed_sim::Cluster::new("member");
        let addr = member.serve_https().await.unwrap();
        let proxy = proxy.map(|p| format!("http://{p}"));
        let spec = ConnectionSpec {
            api_endpoint: &format!("https://{addr}"),
            ca_bundle: Some(kubefed_sim::server::pki::CA_PEM.as_bytes()),
            proxy_url: proxy.as_deref(),
            token: member.admin_token(),
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let config = member_config(&spec).unwrap().config;
        let client = member_client(&config, &InFlightLimitLayer::new(4)).unwrap();
        (member, client)
    }

    /// Three watches and a burst of reads and a write, and what each watch saw of the write.
    /// `n` watches of config maps from the start, one after the other.
    async fn open_watches(
        api: &Api<ConfigMap>,
        n: usize,
    ) -> Vec<futures::stream::BoxStream<'static, kube::Result<WatchEvent<ConfigMap>>>> {
        let mut watches = Vec::new();
        for _ in 0..n {
            watches.push(
                api.watch(&WatchParams::default(), "0")
                    .await
                    .unwrap()
                    .boxed(),
            );
        }
        watches
    }

    async fn watches_and_requests(client: kube::Client) {
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        // The first request opens the connection; the rest find it in the pool.
        let mut watches = open_watches(&api, 3).await;
        let params = kube::api::ListParams::default();
        let lists = (0..8).map(|_| api.list(&params));
        for list in futures::future::join_all(lists).await {
            list.unwrap();
        }
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "seen", "namespace": "default"},
        }))
        .unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
        for watch in &mut watches {
            loop {
                match watch.next().await {
                    Some(Ok(WatchEvent::Added(o)))
                        if o.metadata.name.as_deref() == Some("seen") =>
                    {
                        break;
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("expected the created object's watch event, got {other:?}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn a_tls_member_gets_every_watch_and_request_on_one_http2_connection() {
        let (member, client) = tls_member(None).await;
        watches_and_requests(client).await;
        assert_eq!(
            member.connections(),
            kubefed_sim::ConnectionCounts { http1: 0, http2: 1 }
        );
    }

    #[tokio::test]
    async fn http2_is_negotiated_with_the_member_through_a_connect_proxy() {
        let (heads, mut seen) = mpsc::unbounded_channel();
        let proxy = connect_proxy(heads).await;
        let (member, client) = tls_member(Some(proxy)).await;
        watches_and_requests(client).await;
        assert!(seen.recv().await.unwrap().starts_with("CONNECT "));
        assert_eq!(
            member.connections(),
            kubefed_sim::ConnectionCounts { http1: 0, http2: 1 }
        );
    }

    /// Watches whose readers have stopped reading, each with more unread than its stream
    /// window, do not stall the member's connection for other requests.
    #[tokio::test]
    async fn unread_watches_leave_room_for_other_requests() {
        let (_member, client) = tls_member(None).await;
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let blob = "x".repeat(300 * 1024);
        let stalled = open_watches(&api, 6).await;
        // 6 streams × 256 KiB unread: past a 1 MiB connection window, within 4 MiB.
        let writes_and_read = async {
            for i in 0..2 {
                let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": format!("big-{i}"), "namespace": "default"},
                    "data": {"blob": blob},
                }))
                .unwrap();
                api.create(&PostParams::default(), &cm).await.unwrap();
            }
            api.get("big-1").await.unwrap()
        };
        let got = tokio::time::timeout(Duration::from_secs(10), writes_and_read)
            .await
            .expect("the writes and the read waited for the unread watches");
        assert_eq!(got.data.unwrap()["blob"].len(), blob.len());
        drop(stalled);
    }

    /// Holds every request of the member for a while, like a busy API server.
    struct Slow;

    impl kubefed_sim::Middleware for Slow {
        fn before(&self, _req: &kubefed_sim::RequestInfo) -> Result<(), kubefed_sim::ApiError> {
            Ok(())
        }

        fn delay(&self, _req: &kubefed_sim::RequestInfo) -> Duration {
            Duration::from_millis(300)
        }
    }

    /// A write the client stops waiting for (its HTTP/2 stream reset) is still carried out, as
    /// by a real API server: the operator must treat a timed-out write as maybe done.
    #[tokio::test]
    async fn a_write_given_up_on_over_http2_is_still_carried_out() {
        let (member, client) = tls_member(None).await;
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        api.list(&Default::default()).await.unwrap();
        member.add_middleware(Arc::new(Slow));
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "abandoned", "namespace": "default"},
        }))
        .unwrap();
        let params = PostParams::default();
        let create = api.create(&params, &cm);
        let gave_up = tokio::time::timeout(Duration::from_millis(50), create).await;
        assert!(
            gave_up.is_err(),
            "the create answered before the client gave up"
        );
        member.clear_middleware();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while api.get_opt("abandoned").await.unwrap().is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the create was dropped"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(member.connections().http2, 1);
    }

    /// A TCP relay to `target` for one connection, counting the TLS application-data records
    /// the client sends.
    async fn record_counting_relay(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let records = Arc::new(AtomicUsize::new(0));
        let counted = records.clone();
        tokio::spawn(async move {
            let (client, _) = listener.accept().await.unwrap();
            let upstream = TcpStream::connect(target).await.unwrap();
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = upstream.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
            // A record is a 5-byte header (content type, version, length) and its payload.
            let (mut header, mut skip) = (Vec::new(), 0usize);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from_client.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                for &byte in &buf[..n] {
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    header.push(byte);
                    if header.len() == 5 {
                        if header[0] == 0x17 {
                            counted.fetch_add(1, Ordering::SeqCst);
                        }
                        skip = usize::from(u16::from_be_bytes([header[3], header[4]]));
                        header.clear();
                    }
                }
                if to_server.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
        (addr, records)
    }

    /// Over HTTP/2 a write's HEADERS and DATA frames leave in one TLS record (so one write and
    /// one read at each end), not one record each.
    #[tokio::test]
    async fn over_http2_a_request_and_its_body_go_out_in_one_tls_record() {
        let member = kubefed_sim::Cluster::new("member");
        let (relay, records) = record_counting_relay(member.serve_https().await.unwrap()).await;
        let spec = ConnectionSpec {
            api_endpoint: &format!("https://{relay}"),
            ca_bundle: Some(kubefed_sim::server::pki::CA_PEM.as_bytes()),
            token: member.admin_token(),
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let config = member_config(&spec).unwrap().config;
        let client = member_client(&config, &InFlightLimitLayer::new(4)).unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        // The handshake's last records and the connection's settings go first.
        api.list(&Default::default()).await.unwrap();
        for i in 0..10 {
            let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("cm-{i}"), "namespace": "default"},
                "data": {"payload": "x".repeat(512)},
            }))
            .unwrap();
            let before = records.load(Ordering::SeqCst);
            api.create(&PostParams::default(), &cm).await.unwrap();
            assert_eq!(
                records.load(Ordering::SeqCst) - before,
                1,
                "records sent for create {i}"
            );
        }
        assert_eq!(member.connections().http2, 1);
    }

    #[tokio::test]
    async fn a_plain_http_member_is_spoken_to_in_http1() {
        let member = kubefed_sim::Cluster::new("member");
        let addr = member.serve_http().await.unwrap();
        let spec = ConnectionSpec {
            api_endpoint: &format!("http://{addr}"),
            token: member.admin_token(),
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let config = member_config(&spec).unwrap().config;
        let client = member_client(&config, &InFlightLimitLayer::new(4)).unwrap();
        watches_and_requests(client).await;
        let counts = member.connections();
        assert_eq!(counts.http2, 0);
        // One per watch, at least one for the burst; idle ones are reused.
        assert!(counts.http1 >= 4, "{counts:?}");
    }

    #[tokio::test]
    async fn a_wrong_token_is_refused() {
        let (heads, _seen) = mpsc::unbounded_channel();
        let addr = big_object_server(heads).await;
        let spec = ConnectionSpec {
            api_endpoint: &format!("http://{addr}"),
            token: "other",
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let config = member_config(&spec).unwrap().config;
        let client = member_client(&config, &InFlightLimitLayer::new(4)).unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        assert!(api.get("big").await.is_err());
    }

    #[test]
    fn proxy_credentials_are_decoded_before_encoding() {
        let uri: Uri = "http://us%3Aer:pa%40ss%25@proxy:3128".parse().unwrap();
        let header = proxy_basic_auth(&uri).unwrap().unwrap();
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD.encode("us:er:pa@ss%");
        assert_eq!(header.to_str().unwrap(), format!("Basic {expected}"));
        let plain: Uri = "http://proxy:3128".parse().unwrap();
        assert!(proxy_basic_auth(&plain).unwrap().is_none());
    }

    #[test]
    fn a_stray_percent_is_kept() {
        assert_eq!(percent_decode("a%zz%4"), b"a%zz%4".to_vec());
        assert_eq!(percent_decode("%41%2b"), b"A+".to_vec());
    }
}
