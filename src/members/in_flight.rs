//! At most N requests awaiting an answer from one member, health probes aside.
//!
//! kube's client hands every request to one queue drained by a single task. A limit that
//! reports "not ready" to that task (as tower's `ConcurrencyLimit` does) stops the whole
//! queue: a `/healthz` probe then waits behind every write queued for a busy member, misses
//! its timeout, and the member is marked Offline although it answers. Here each request waits
//! for its permit inside its own response future, so the queue never stops, and a request
//! carrying the [`Unlimited`] extension (the probes) takes no permit at all.
//!
//! A request that waits long for its permit says nothing about the member. So the layer keeps
//! the member's [`Answers`] (how long requests sent to it have gone without any answer), which
//! tells a busy member from a silent one, and [`answered_within`] gives a request its time
//! from when it was sent, not from when it was queued.

use futures::future::BoxFuture;
use parking_lot::Mutex;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tower::{Layer, Service};

tokio::task_local! {
    /// When the request of the [`answered_within`] around it was sent: `None` while it waits
    /// for a permit.
    static SENT: watch::Sender<Option<Instant>>;
}

/// Runs `request` (one request to a member, or anything else) and waits for it at most
/// `timeout` after the request went out: time spent waiting for a permit of the member's limit
/// does not count. `None` when it timed out. Through a client without the limit, the time
/// counts from the call. `request` makes one request at a time: the send time is per
/// [`answered_within`], not per request.
pub async fn answered_within<F: Future>(timeout: Duration, request: F) -> Option<F::Output> {
    let (sent, mut sent_at) = watch::channel(Some(Instant::now()));
    let request = SENT.scope(sent, request);
    tokio::pin!(request);
    let deadline = async {
        loop {
            let at = *sent_at.borrow_and_update();
            match at {
                Some(at) => tokio::select! {
                    _ = tokio::time::sleep_until((at + timeout).into()) => return,
                    changed = sent_at.changed() => if changed.is_err() {
                        std::future::pending::<()>().await;
                    },
                },
                None => {
                    if sent_at.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    };
    tokio::select! {
        biased;
        out = &mut request => Some(out),
        () = deadline => None,
    }
}

/// Tells the [`answered_within`] around this request, if any, whether it is queued or sent.
fn mark_sent(at: Option<Instant>) {
    let _ = SENT.try_with(|sent| sent.send_replace(at));
}

/// Marks a request that must not wait for a permit: a health probe, whose answer time is what
/// it measures.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

/// Adds [`Unlimited`] to a request.
pub fn unlimited<B>(mut request: http::Request<B>) -> http::Request<B> {
    request.extensions_mut().insert(Unlimited);
    request
}

/// Whether a member is answering: how many requests were sent to it and await an answer, and
/// since when none was answered. Clones share the clock.
#[derive(Clone, Debug, Default)]
pub struct Answers(Arc<Mutex<AnswerClock>>);

#[derive(Debug, Default)]
struct AnswerClock {
    /// Requests sent (holding a permit, or unlimited) and not answered or given up on yet.
    waiting: usize,
    /// The last answer, or the send that ended a time with nothing waiting.
    since: Option<Instant>,
    /// When the last request given up on unanswered was dropped: with nothing waiting any
    /// more, the silence it ended still counts until the next send or answer.
    gave_up: Option<Instant>,
}

impl Answers {
    /// How long requests sent to the member have gone with no answer to any of them, up to
    /// now or, when the last of them was just given up on, up to then: zero after an answer
    /// and while nothing was sent.
    pub fn silent_for(&self) -> Duration {
        let clock = self.0.lock();
        let Some(since) = clock.since else {
            return Duration::ZERO;
        };
        match (clock.waiting, clock.gave_up) {
            (0, Some(gave_up)) if gave_up > since => gave_up - since,
            (0, _) => Duration::ZERO,
            _ => since.elapsed(),
        }
    }

    /// A request goes out; the returned guard reports its end.
    fn sent(&self) -> Waiting {
        let mut clock = self.0.lock();
        if clock.waiting == 0 {
            clock.since = Some(Instant::now());
            clock.gave_up = None;
        }
        clock.waiting += 1;
        Waiting {
            answers: self.clone(),
            answered: false,
        }
    }
}

/// One request sent and not answered yet. Dropped unanswered (its caller gave up, or the
/// connection failed), it stops waiting without moving the clock.
struct Waiting {
    answers: Answers,
    answered: bool,
}

impl Waiting {
    fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut clock = self.answers.0.lock();
        clock.waiting = clock.waiting.saturating_sub(1);
        let now = Instant::now();
        if self.answered {
            clock.since = Some(now);
            clock.gave_up = None;
        } else {
            clock.gave_up = Some(now);
        }
    }
}

/// The layer; every client built with one clone of it shares its permits and answers.
#[derive(Clone, Debug)]
pub struct InFlightLimitLayer {
    permits: Arc<Semaphore>,
    answers: Answers,
}

impl InFlightLimitLayer {
    /// `limit` requests at once (at least one).
    pub fn new(limit: usize) -> Self {
        InFlightLimitLayer {
            permits: Arc::new(Semaphore::new(limit.max(1))),
            answers: Answers::default(),
        }
    }

    /// The answers of the clients built with this layer.
    pub fn answers(&self) -> Answers {
        self.answers.clone()
    }
}

impl<S> Layer<S> for InFlightLimitLayer {
    type Service = InFlightLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InFlightLimit {
            inner,
            permits: self.permits.clone(),
            answers: self.answers.clone(),
        }
    }
}

/// The service [`InFlightLimitLayer`] wraps around a client's stack.
#[derive(Clone, Debug)]
pub struct InFlightLimit<S> {
    inner: S,
    permits: Arc<Semaphore>,
    answers: Answers,
}

impl<S, B> Service<http::Request<B>> for InFlightLimit<S>
where
    S: Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let permits = match request.extensions().get::<Unlimited>() {
            Some(_) => None,
            None => Some(self.permits.clone()),
        };
        // The client stack's future does nothing until it is polled, so creating it before the
        // permit is held sends nothing early.
        let response = self.inner.call(request);
        let answers = self.answers.clone();
        Box::pin(async move {
            // The semaphore is never closed, so acquiring only fails in theory; the request
            // then goes unlimited rather than failing.
            let _permit = match permits {
                Some(permits) => {
                    mark_sent(None);
                    let permit = permits.acquire_owned().await.ok();
                    mark_sent(Some(Instant::now()));
                    permit
                }
                None => None,
            };
            let waiting = answers.sent();
            let answer = response.await;
            // An error (no connection, a reset) is not an answer from the member.
            if answer.is_ok() {
                waiting.answered();
            }
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    /// A member that answers `/slow` only when released, and everything else at once; it
    /// counts the requests it is answering.
    fn member(
        release: Arc<Notify>,
        answering: Arc<AtomicUsize>,
    ) -> impl Service<
        http::Request<()>,
        Response = &'static str,
        Error = std::convert::Infallible,
        Future = BoxFuture<'static, Result<&'static str, std::convert::Infallible>>,
    > + Clone {
        tower::service_fn(move |request: http::Request<()>| {
            let release = release.clone();
            let answering = answering.clone();
            Box::pin(async move {
                answering.fetch_add(1, Ordering::SeqCst);
                if request.uri().path() == "/slow" {
                    release.notified().await;
                }
                answering.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, std::convert::Infallible>("ok")
            }) as BoxFuture<'static, _>
        })
    }

    fn get(path: &str) -> http::Request<()> {
        http::Request::get(path).body(()).unwrap()
    }

    type Answer = Result<&'static str, std::convert::Infallible>;

    /// [`member`] behind a limit of one, in the kind of buffered queue kube's client uses.
    struct Limited {
        release: Arc<Notify>,
        answering: Arc<AtomicUsize>,
        answers: Answers,
        client: tower::buffer::Buffer<http::Request<()>, BoxFuture<'static, Answer>>,
    }

    impl Limited {
        fn new() -> Self {
            let release = Arc::new(Notify::new());
            let answering = Arc::new(AtomicUsize::new(0));
            let layer = InFlightLimitLayer::new(1);
            let limited = layer.layer(member(release.clone(), answering.clone()));
            Limited {
                release,
                answering,
                answers: layer.answers(),
                client: tower::buffer::Buffer::new(limited, 16),
            }
        }

        fn answering(&self) -> usize {
            self.answering.load(Ordering::SeqCst)
        }

        /// Waits until the member is answering some request.
        async fn until_answering(&self) {
            while self.answering() == 0 {
                tokio::task::yield_now().await;
            }
        }

        fn send(
            &self,
            request: http::Request<()>,
        ) -> tokio::task::JoinHandle<Result<&'static str, tower::BoxError>> {
            tokio::spawn(self.client.clone().oneshot(request))
        }
    }

    /// With the one permit held by a request the member does not answer, a probe still gets
    /// its answer, through the same buffered client queue kube uses; a second ordinary
    /// request waits and goes out once the first is answered.
    #[tokio::test]
    async fn probes_pass_a_full_limit_and_others_wait() {
        let m = Limited::new();
        let slow = m.send(get("/slow"));
        m.until_answering().await;
        let queued = m.send(get("/fast"));

        let probe = tokio::time::timeout(
            Duration::from_secs(5),
            m.client.clone().oneshot(unlimited(get("/healthz"))),
        )
        .await;
        assert!(matches!(probe, Ok(Ok("ok"))), "the probe waited: {probe:?}");
        // The probe's answer came after the queued request was handed over, and that request
        // is still waiting for the permit: only the slow one is being answered.
        assert!(!queued.is_finished());
        assert_eq!(m.answering(), 1);

        m.release.notify_one();
        assert!(matches!(slow.await, Ok(Ok("ok"))));
        let queued = tokio::time::timeout(Duration::from_secs(5), queued).await;
        assert!(matches!(queued, Ok(Ok(Ok("ok")))), "{queued:?}");
    }

    /// A member with a request out and no answer since is silent; an answer resets the
    /// clock, and with nothing out it is never silent. Requests still waiting for a permit do
    /// not count.
    #[tokio::test]
    async fn silence_counts_from_the_last_answer_of_requests_sent() {
        let m = Limited::new();
        let answers = &m.answers;
        assert_eq!(answers.silent_for(), Duration::ZERO);

        let slow = m.send(get("/slow"));
        let queued = m.send(get("/slow"));
        m.until_answering().await;
        std::thread::sleep(Duration::from_millis(30));
        let silent = answers.silent_for();
        assert!(silent >= Duration::from_millis(30), "{silent:?}");

        // The first is answered: the clock starts again although the second is now out.
        m.release.notify_one();
        assert!(matches!(slow.await, Ok(Ok("ok"))));
        m.until_answering().await;
        assert!(answers.silent_for() < silent, "{:?}", answers.silent_for());
        m.release.notify_one();
        assert!(matches!(queued.await, Ok(Ok("ok"))));
        assert_eq!(answers.silent_for(), Duration::ZERO);

        // Given up on before an answer: the silence it met still counts (what the caller
        // that gave up asks about), until the next answer.
        let abandoned = m.send(get("/slow"));
        m.until_answering().await;
        std::thread::sleep(Duration::from_millis(30));
        abandoned.abort();
        let _ = abandoned.await;
        let met = answers.silent_for();
        assert!(met >= Duration::from_millis(30), "{met:?}");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            answers.silent_for(),
            met,
            "the silence ended with the give-up"
        );
        assert!(matches!(
            m.client.clone().oneshot(get("/fast")).await,
            Ok("ok")
        ));
        assert_eq!(answers.silent_for(), Duration::ZERO);
    }

    /// The time a request is given counts from when it was sent: one that waited for the
    /// permit longer than its timeout still gets its answer, while one sent to a member that
    /// does not answer times out.
    #[tokio::test]
    async fn time_counts_from_the_send() {
        let m = Limited::new();
        let client = &m.client;
        let timeout = Duration::from_millis(300);

        let slow = tokio::spawn(answered_within(
            timeout * 10,
            client.clone().oneshot(get("/slow")),
        ));
        m.until_answering().await;
        let queued = tokio::spawn(answered_within(
            timeout,
            client.clone().oneshot(get("/fast")),
        ));
        tokio::time::sleep(timeout * 2).await;
        assert!(
            !queued.is_finished(),
            "the queued request was cut while it waited"
        );
        m.release.notify_one();
        assert!(matches!(slow.await, Ok(Some(Ok("ok")))));
        assert!(matches!(queued.await, Ok(Some(Ok("ok")))));

        let started = Instant::now();
        let unanswered = answered_within(timeout, client.clone().oneshot(get("/slow"))).await;
        assert!(unanswered.is_none());
        assert!(started.elapsed() >= timeout);
        // Without a limit in the way, the time counts from the call.
        let started = Instant::now();
        let unlimited_slow =
            answered_within(timeout, client.clone().oneshot(unlimited(get("/slow")))).await;
        assert!(unlimited_slow.is_none());
        assert!(started.elapsed() < timeout * 3);
    }

    /// Without the extension every request counts: two slow ones never run at once under a
    /// limit of one.
    #[tokio::test]
    async fn ordinary_requests_are_limited() {
        let m = Limited::new();
        let first = m.send(get("/slow"));
        let second = m.send(get("/slow"));
        m.until_answering().await;
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(m.answering(), 1);
        // Whichever of the two holds the permit is answered; then the other goes out.
        m.release.notify_one();
        while !(first.is_finished() || second.is_finished()) {
            tokio::task::yield_now().await;
        }
        m.release.notify_one();
        let both = tokio::time::timeout(Duration::from_secs(5), async {
            (first.await, second.await)
        })
        .await;
        assert!(matches!(both, Ok((Ok(Ok("ok")), Ok(Ok("ok"))))), "{both:?}");
    }
}
