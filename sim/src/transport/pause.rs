//! A pause switch for connections and requests, the way a stopped (SIGSTOP) process looks
//! from outside: the kernel still accepts connections, but nothing reads from or writes to
//! them, and nothing is closed. Resuming lets everything continue where it stood.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug, Default)]
struct Shared {
    paused: bool,
    /// Tasks to wake on resume, in the order they first waited.
    wakers: Vec<Waker>,
}

/// The switch. Cheap to clone; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Pause(Arc<Mutex<Shared>>);

impl Pause {
    /// Pauses or resumes. Resuming wakes every waiter, oldest first.
    pub fn set(&self, paused: bool) {
        let wakers = {
            let mut s = self.0.lock();
            s.paused = paused;
            if paused {
                return;
            }
            std::mem::take(&mut s.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    pub fn is_paused(&self) -> bool {
        self.0.lock().paused
    }

    /// Ready when not paused; otherwise registers the task to be woken on resume.
    pub fn poll_resumed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.0.lock();
        if !s.paused {
            return Poll::Ready(());
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Waits until not paused.
    pub async fn resumed(&self) {
        std::future::poll_fn(|cx| self.poll_resumed(cx)).await
    }

    /// Wraps a connection so that it neither reads nor writes while paused.
    pub fn wrap<I>(&self, io: I) -> PausableIo<I> {
        PausableIo {
            io,
            pause: self.clone(),
        }
    }
}

/// A connection whose reads and writes wait while its [`Pause`] is set.
#[derive(Debug)]
pub struct PausableIo<I> {
    io: I,
    pause: Pause,
}

macro_rules! gated {
    ($self:ident, $cx:ident, $call:expr) => {{
        let this = $self.get_mut();
        if this.pause.poll_resumed($cx).is_pending() {
            return Poll::Pending;
        }
        let io = Pin::new(&mut this.io);
        $call(io)
    }};
}

impl<I: AsyncRead + Unpin> AsyncRead for PausableIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        gated!(self, cx, |io: Pin<&mut I>| io.poll_read(cx, buf))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for PausableIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        gated!(self, cx, |io: Pin<&mut I>| io.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        gated!(self, cx, |io: Pin<&mut I>| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        gated!(self, cx, |io: Pin<&mut I>| io.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_resume_in_order() {
        let pause = Pause::default();
        pause.set(true);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (pause, order) = (pause.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                pause.resumed().await;
                order.lock().push(i);
            }));
            // Let the task reach the pause before the next one is spawned.
            tokio::task::yield_now().await;
        }
        assert!(order.lock().is_empty());
        pause.set(false);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock(), vec![0, 1, 2]);
    }
}
