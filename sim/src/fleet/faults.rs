//! Fault injection in front of a cluster: hanging requests, a frozen (SIGSTOPped) server,
//! failing health checks, added latency, a fraction of requests answered with 500 or 429,
//! watch events that lag behind the answers, and cut watch streams.
//!
//! Faults sit in front of [`Cluster::handle`] rather than in a [`crate::Middleware`] because
//! they must also reach `/healthz` and the bodies of watch responses. Fleet transports (the
//! loopback listeners and [`FaultService`]) send every request through [`serve`]. Taking a
//! cluster offline is the listener's business (see [`crate::fleet`]); the in-process service
//! answers with a connection error meanwhile.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody};
use parking_lot::Mutex;
use serde_json::json;

use crate::rest::SimBody;
use crate::server::cluster::Cluster;
use crate::transport::Handler;
use crate::transport::pause::Pause;
use crate::transport::service::{BoxError, SimService};

/// One change of a cluster's faults, as typed on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultSpec {
    /// Close the listener: new connections are refused, open ones are dropped.
    Offline,
    /// Listen again on the same address.
    Online,
    /// Requests are accepted but never answered until cleared.
    Hang,
    /// Like a stopped (SIGSTOP) API server process: the kernel still accepts connections,
    /// but nothing is answered, not even the TLS handshake; open connections, watch streams
    /// included, go silent without closing.
    Freeze,
    /// Resumes a frozen cluster: what queued up meanwhile is answered late, in order
    /// (answers to clients that gave up go into closed sockets).
    Thaw,
    /// `/healthz`, `/livez` and `/readyz` answer 500; everything else still works.
    Unhealthy,
    /// Clears `Unhealthy`.
    Healthy,
    /// Latency added to every request.
    Latency(Duration),
    /// Latency added to every watch event, as when the server's watch cache lags: a write's
    /// answer can come before its event.
    WatchLatency(Duration),
    /// This fraction of requests fails with `code` (500 or 429).
    Errors { rate: f64, code: u16 },
    /// Ends every open watch stream once (clients see the stream end and re-watch).
    CutWatches,
    /// Clears hang, unhealthy, latencies and errors, and brings the cluster online.
    Clear,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultParseError {
    #[error(
        "unknown fault {0:?}; expected one of offline, online, hang, freeze, thaw, unhealthy, healthy, latency=<duration>, watch-latency=<duration>, errors=<fraction>[:500|:429], cut-watches, clear"
    )]
    Unknown(String),
    #[error("invalid duration {0:?}; expected e.g. 50ms, 2s or 1m")]
    Duration(String),
    #[error(
        "invalid error rate {0:?}; expected a fraction between 0 and 1, optionally :500 or :429"
    )]
    Rate(String),
}

/// Parses `50ms`, `2s`, `1.5s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, FaultParseError> {
    let bad = || FaultParseError::Duration(s.to_string());
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "us" | "µs" => n / 1_000_000.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

impl FromStr for FaultSpec {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(d) = s.strip_prefix("watch-latency=") {
            return Ok(FaultSpec::WatchLatency(parse_duration(d)?));
        }
        if let Some(d) = s.strip_prefix("latency=") {
            return Ok(FaultSpec::Latency(parse_duration(d)?));
        }
        if let Some(r) = s.strip_prefix("errors=") {
            let bad = || FaultParseError::Rate(r.to_string());
            let (rate, code) = match r.split_once(':') {
                Some((rate, code)) => (rate, code.parse::<u16>().map_err(|_| bad())?),
                None => (r, 500),
            };
            let rate: f64 = rate.parse().map_err(|_| bad())?;
            if !(0.0..=1.0).contains(&rate) || !matches!(code, 500 | 429) {
                return Err(bad());
            }
            return Ok(FaultSpec::Errors { rate, code });
        }
        Ok(match s {
            "offline" => FaultSpec::Offline,
            "online" => FaultSpec::Online,
            "hang" => FaultSpec::Hang,
            "freeze" => FaultSpec::Freeze,
            "thaw" => FaultSpec::Thaw,
            "unhealthy" => FaultSpec::Unhealthy,
            "healthy" => FaultSpec::Healthy,
            "cut-watches" => FaultSpec::CutWatches,
            "clear" => FaultSpec::Clear,
            other => return Err(FaultParseError::Unknown(other.to_string())),
        })
    }
}

#[derive(Debug)]
struct State {
    hang: tokio::sync::watch::Sender<bool>,
    /// Shared with the cluster's listeners, which stop accepting and stall connections.
    freeze: Pause,
    /// Requests waiting for a hang or a freeze to end.
    held: AtomicU64,
    cut: tokio::sync::watch::Sender<u64>,
    offline: AtomicBool,
    unhealthy: AtomicBool,
    /// Health requests answered 500 because of `unhealthy`, so tests can count failed probes
    /// instead of timing them.
    unhealthy_answers: AtomicU64,
    latency: Mutex<Duration>,
    watch_latency: Mutex<Duration>,
    errors: Mutex<(f64, u16)>,
    rng: Mutex<u64>,
    watch_events: AtomicU64,
    watch_streams: AtomicU64,
}

/// The switchable faults of one cluster. Cheap to clone; clones share the switches.
#[derive(Debug, Clone)]
pub struct Faults {
    state: Arc<State>,
}

impl Default for Faults {
    fn default() -> Self {
        Self::new(0x5eed)
    }
}

/// What the faults currently are, for status output.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FaultStatus {
    pub offline: bool,
    pub hang: bool,
    pub frozen: bool,
    pub unhealthy: bool,
    pub latency_ms: u64,
    pub watch_latency_ms: u64,
    pub error_rate: f64,
    pub error_code: u16,
}

impl Faults {
    /// Faults whose random error injection is seeded with `seed` (deterministic).
    pub fn new(seed: u64) -> Self {
        Faults {
            state: Arc::new(State {
                hang: tokio::sync::watch::channel(false).0,
                freeze: Pause::default(),
                held: AtomicU64::new(0),
                cut: tokio::sync::watch::channel(0).0,
                offline: AtomicBool::new(false),
                unhealthy: AtomicBool::new(false),
                unhealthy_answers: AtomicU64::new(0),
                latency: Mutex::new(Duration::ZERO),
                watch_latency: Mutex::new(Duration::ZERO),
                errors: Mutex::new((0.0, 500)),
                rng: Mutex::new(seed),
                watch_events: AtomicU64::new(0),
                watch_streams: AtomicU64::new(0),
            }),
        }
    }

    /// Applies one change. `Offline`/`Online` only flip the flag here; the fleet also closes
    /// and reopens the listener.
    pub fn apply(&self, spec: &FaultSpec) {
        match spec {
            FaultSpec::Offline => self.set_offline(true),
            FaultSpec::Online => self.set_offline(false),
            FaultSpec::Hang => self.set_hang(true),
            FaultSpec::Freeze => self.set_frozen(true),
            FaultSpec::Thaw => self.set_frozen(false),
            FaultSpec::Unhealthy => self.set_unhealthy(true),
            FaultSpec::Healthy => self.set_unhealthy(false),
            FaultSpec::Latency(d) => self.set_latency(*d),
            FaultSpec::WatchLatency(d) => self.set_watch_latency(*d),
            FaultSpec::Errors { rate, code } => self.set_errors(*rate, *code),
            FaultSpec::CutWatches => self.cut_watches(),
            FaultSpec::Clear => self.clear(),
        }
    }

    pub fn set_offline(&self, offline: bool) {
        self.state.offline.store(offline, Ordering::SeqCst);
    }

    pub fn is_offline(&self) -> bool {
        self.state.offline.load(Ordering::SeqCst)
    }

    /// While set, requests wait without an answer; clearing it lets them proceed.
    pub fn set_hang(&self, hang: bool) {
        self.state.hang.send_replace(hang);
    }

    /// Freezes or thaws the cluster as seen through its fleet transports.
    pub fn set_frozen(&self, frozen: bool) {
        self.state.freeze.set(frozen);
    }

    pub fn is_frozen(&self) -> bool {
        self.state.freeze.is_paused()
    }

    /// The switch the cluster's listeners share (see [`Listener`](crate::transport::listener::Listener)).
    pub fn pause(&self) -> Pause {
        self.state.freeze.clone()
    }

    /// Requests that reached the cluster's gate and wait for a hang or freeze to end.
    pub fn held_requests(&self) -> u64 {
        self.state.held.load(Ordering::SeqCst)
    }

    pub fn set_unhealthy(&self, unhealthy: bool) {
        self.state.unhealthy.store(unhealthy, Ordering::SeqCst);
    }

    /// How many health requests have been answered 500 by the `unhealthy` fault so far.
    pub fn unhealthy_answers(&self) -> u64 {
        self.state.unhealthy_answers.load(Ordering::SeqCst)
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.state.latency.lock() = latency;
    }

    /// Delays every watch event (each frame of a watch body) by `latency` more. Events of
    /// one stream queue behind each other, so a burst arrives spread out.
    pub fn set_watch_latency(&self, latency: Duration) {
        *self.state.watch_latency.lock() = latency;
    }

    /// Fails this fraction of requests with `code` (500 InternalError or 429 TooManyRequests).
    pub fn set_errors(&self, rate: f64, code: u16) {
        *self.state.errors.lock() = (rate.clamp(0.0, 1.0), code);
    }

    /// Restarts the random sequence deciding which requests fail.
    pub fn seed(&self, seed: u64) {
        *self.state.rng.lock() = seed;
    }

    /// Ends every watch stream open right now.
    pub fn cut_watches(&self) {
        self.state.cut.send_modify(|n| *n += 1);
    }

    /// Clears every fault, including offline and freeze.
    pub fn clear(&self) {
        self.set_offline(false);
        self.set_hang(false);
        self.set_frozen(false);
        self.set_unhealthy(false);
        self.set_latency(Duration::ZERO);
        self.set_watch_latency(Duration::ZERO);
        self.set_errors(0.0, 500);
    }

    pub fn status(&self) -> FaultStatus {
        let (error_rate, error_code) = *self.state.errors.lock();
        FaultStatus {
            offline: self.is_offline(),
            hang: *self.state.hang.borrow(),
            frozen: self.is_frozen(),
            unhealthy: self.state.unhealthy.load(Ordering::SeqCst),
            latency_ms: u64::try_from(self.state.latency.lock().as_millis()).unwrap_or(u64::MAX),
            watch_latency_ms: u64::try_from(self.state.watch_latency.lock().as_millis())
                .unwrap_or(u64::MAX),
            error_rate,
            error_code,
        }
    }

    /// Watch events (including bookmarks and errors) sent to clients through this gate.
    pub fn watch_events_sent(&self) -> u64 {
        self.state.watch_events.load(Ordering::Relaxed)
    }

    /// Watch streams opened through this gate.
    pub fn watch_streams_opened(&self) -> u64 {
        self.state.watch_streams.load(Ordering::Relaxed)
    }

    /// splitmix64: small, seedable and good enough to pick failing requests.
    fn next_unit(&self) -> f64 {
        let mut s = self.state.rng.lock();
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Waits while the cluster is frozen or hangs, counted in [`Faults::held_requests`].
    async fn pass_gate(&self) {
        let held = *self.state.hang.borrow() || self.is_frozen();
        if !held {
            return;
        }
        struct Held<'a>(&'a AtomicU64);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.state.held.fetch_add(1, Ordering::SeqCst);
        let _held = Held(&self.state.held);
        let mut rx = self.state.hang.subscribe();
        loop {
            self.state.freeze.resumed().await;
            // An error means the sender is gone, which cannot happen while `self` lives.
            let _ = rx.wait_for(|hang| !*hang).await;
            if !self.is_frozen() {
                return;
            }
        }
    }
}

fn status_response(code: u16, reason: &str, message: &str) -> Response<SimBody> {
    let mut body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    if code == 429 {
        body["details"] = json!({"retryAfterSeconds": 1});
    }
    let mut r = Response::new(
        Full::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default())).boxed_unsync(),
    );
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if code == 429 {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

fn is_health(path: &str) -> bool {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    matches!(first, "healthz" | "livez" | "readyz")
}

fn is_watch(req: &Request<Bytes>) -> bool {
    req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "watch=true" || p == "watch=1" || p == "watch")
    })
}

/// Serves one request through the faults, then the cluster.
pub async fn serve(cluster: &Cluster, faults: &Faults, req: Request<Bytes>) -> Response<SimBody> {
    faults.pass_gate().await;
    if is_health(req.uri().path()) && faults.state.unhealthy.load(Ordering::SeqCst) {
        faults
            .state
            .unhealthy_answers
            .fetch_add(1, Ordering::SeqCst);
        let mut r = Response::new(
            Full::new(Bytes::from_static(
                b"[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\nhealthz check failed\n",
            ))
            .boxed_unsync(),
        );
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return r;
    }
    let latency = *faults.state.latency.lock();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (rate, code) = *faults.state.errors.lock();
    if rate > 0.0 && faults.next_unit() < rate {
        return if code == 429 {
            status_response(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            )
        } else {
            status_response(
                500,
                "InternalError",
                "an error on the server (\"injected fault\") has prevented the request from succeeding",
            )
        };
    }
    let watch = is_watch(&req);
    let resp = cluster.handle(req).await;
    if !watch || !resp.status().is_success() {
        return resp;
    }
    faults.state.watch_streams.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, cuttable(body, faults.clone()))
}

/// The handler of a fleet listener: every request goes through the faults, then the cluster.
pub fn handler(cluster: Cluster, faults: Faults) -> Handler {
    Arc::new(move |req| {
        let cluster = cluster.clone();
        let faults = faults.clone();
        Box::pin(async move { serve(&cluster, &faults, req).await })
    })
}

/// Wraps a watch body so that it counts events, delays them by the watch latency, goes
/// silent while the cluster is frozen and ends when the watches are cut.
fn cuttable(body: SimBody, faults: Faults) -> SimBody {
    let mut cut = faults.state.cut.subscribe();
    cut.mark_unchanged();
    let stream = futures::stream::unfold(
        (body, cut, faults),
        |(mut body, mut cut, faults)| async move {
            let frame = tokio::select! {
                f = async {
                    faults.state.freeze.resumed().await;
                    body.frame().await
                } => f?,
                _ = cut.changed() => return None,
            };
            let Ok(frame) = frame;
            let lag = *faults.state.watch_latency.lock();
            if !lag.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(lag) => {}
                    _ = cut.changed() => return None,
                }
            }
            if let Some(data) = frame.data_ref() {
                let events = data.iter().filter(|b| **b == b'\n').count().max(1);
                faults
                    .state
                    .watch_events
                    .fetch_add(events as u64, Ordering::Relaxed);
            }
            Some((Ok::<_, Infallible>(frame), (body, cut, faults)))
        },
    );
    StreamBody::new(stream).boxed_unsync()
}

/// An in-process `tower::Service` for one cluster that goes through its faults: a
/// [`SimService`] whose requests pass [`serve`]. While the cluster is offline it fails like
/// a refused connection.
#[derive(Debug, Clone)]
pub struct FaultService {
    inner: SimService,
    faults: Faults,
}

impl FaultService {
    pub fn new(cluster: Cluster, faults: Faults, token: Option<String>) -> Self {
        let name = cluster.name().to_string();
        FaultService {
            inner: SimService::with_handler(name, handler(cluster, faults.clone()), token),
            faults,
        }
    }
}

impl<B> tower_service::Service<Request<B>> for FaultService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<SimBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower_service::Service::<Request<B>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.faults.is_offline() {
            let refused = std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!(
                    "cluster {} is offline: connection refused",
                    self.inner.cluster_name()
                ),
            );
            return Box::pin(async move { Err(Box::new(refused) as BoxError) });
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!("offline".parse::<FaultSpec>(), Ok(FaultSpec::Offline));
        assert_eq!("freeze".parse::<FaultSpec>(), Ok(FaultSpec::Freeze));
        assert_eq!("thaw".parse::<FaultSpec>(), Ok(FaultSpec::Thaw));
        assert_eq!(
            "latency=50ms".parse::<FaultSpec>(),
            Ok(FaultSpec::Latency(Duration::from_millis(50)))
        );
        assert_eq!(
            "errors=0.2".parse::<FaultSpec>(),
            Ok(FaultSpec::Errors {
                rate: 0.2,
                code: 500
            })
        );
        assert_eq!(
            "errors=1:429".parse::<FaultSpec>(),
            Ok(FaultSpec::Errors {
                rate: 1.0,
                code: 429
            })
        );
        assert!("errors=2".parse::<FaultSpec>().is_err());
        assert!("errors=0.5:404".parse::<FaultSpec>().is_err());
        assert_eq!(
            "watch-latency=1s".parse::<FaultSpec>(),
            Ok(FaultSpec::WatchLatency(Duration::from_secs(1)))
        );
        assert!("latency=5parsecs".parse::<FaultSpec>().is_err());
        assert!("explode".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn error_rate_is_deterministic() {
        let a = Faults::new(7);
        let b = Faults::new(7);
        let xs: Vec<f64> = (0..5).map(|_| a.next_unit()).collect();
        let ys: Vec<f64> = (0..5).map(|_| b.next_unit()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
    }
}
