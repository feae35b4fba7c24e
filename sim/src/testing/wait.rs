//! Waiting for an observable result, bounded by a timeout.
//!
//! Each form checks first and sleeps only between checks, so a result that is already there
//! costs no wait. They wait for something to become true; for "nothing happens" checks see
//! [`super::quiet`].

use std::future::Future;
use std::time::{Duration, Instant};

/// A wait that ended without its result.
#[derive(Debug, Clone, thiserror::Error)]
#[error("timed out after {after:?} waiting for {what}")]
pub struct Timeout {
    pub what: String,
    pub after: Duration,
}

/// Between checks of [`eventually`] and [`poll`].
const EVERY: Duration = Duration::from_millis(20);

/// Checks `check` until it returns `Some` or `timeout` passes, then fails with `what`.
pub async fn poll<T, F, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: F,
) -> Result<T, Timeout>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(Timeout {
                what: what.to_string(),
                after: timeout,
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// Like [`poll`], panicking on timeout (for tests).
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match poll(what, timeout, EVERY, check).await {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// The blocking form, for harnesses that drive processes and `kubectl`: checks `probe` every
/// `every` until it returns `Some`, at most `timeout`.
pub fn eventually_blocking<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T, Timeout> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if start.elapsed() > timeout {
            return Err(Timeout {
                what: what.to_string(),
                after: timeout,
            });
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn poll_returns_the_first_result_and_times_out_without_one() {
        let mut calls = 0;
        let v = poll(
            "three calls",
            Duration::from_secs(5),
            Duration::ZERO,
            || {
                calls += 1;
                let done = calls == 3;
                async move { done.then_some(calls) }
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 3);
        let e = poll("never", Duration::from_millis(30), EVERY, || async {
            None::<()>
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains("waiting for never"), "{e}");
    }

    #[test]
    fn blocking_form_times_out_with_what_it_waited_for() {
        let e = eventually_blocking("a flag", Duration::from_millis(20), EVERY, || None::<()>)
            .unwrap_err();
        assert_eq!(e.what, "a flag");
        assert_eq!(
            eventually_blocking("now", Duration::ZERO, EVERY, || Some(7)).unwrap(),
            7
        );
    }
}
