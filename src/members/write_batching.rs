//! One TLS record for a request's headers and body over HTTP/2.
//!
//! h2 holds back the body of a request it opens until the connection task has sent the
//! HEADERS frame, and that task writes whatever it has at once: the HEADERS frame goes out
//! alone, and the body follows in later writes when the task sending it has run. Every
//! member write so cost three TLS records (counted by the transport tests' relay), as many
//! `writev` calls, and as many reads on the member's side. [`BatchedWrites`] makes the
//! connection task yield once before it writes: the task holding the body, woken when the
//! HEADERS frame was taken, runs first, and both frames go out together. A write that finds the socket full waits as before; only a batch's first
//! write yields, so nothing is delayed more than one turn of the scheduler.

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A connection whose first write of each batch yields once, when it speaks HTTP/2.
pub struct BatchedWrites<T> {
    inner: T,
    /// Only an HTTP/2 connection has frames from several tasks to gather; HTTP/1 writes a
    /// request's head and body together already.
    batching: bool,
    /// The pending write has yielded once already.
    yielded: bool,
}

impl<T: Connection> BatchedWrites<T> {
    pub fn new(inner: T) -> Self {
        let batching = inner.connected().is_negotiated_h2();
        BatchedWrites {
            inner,
            batching,
            yielded: false,
        }
    }
}

impl<T: Unpin> BatchedWrites<T> {
    /// Pending (after waking the task) the first time a batch is written, so that the tasks
    /// woken meanwhile run and queue their frames before the write.
    fn yield_once(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.batching && !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(())
    }

    fn written<R>(&mut self, result: Poll<R>) -> Poll<R> {
        if result.is_ready() {
            self.yielded = false;
        }
        result
    }
}

impl<T: Connection> Connection for BatchedWrites<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

impl<T: Read + Unpin> Read for BatchedWrites<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for BatchedWrites<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.yield_once(cx));
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.written(result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.yield_once(cx));
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.written(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// A connection that takes every write whole and counts them.
    struct Recorder {
        h2: bool,
        writes: usize,
    }

    impl Connection for Recorder {
        fn connected(&self) -> Connected {
            let connected = Connected::new();
            if self.h2 {
                connected.negotiated_h2()
            } else {
                connected
            }
        }
    }

    impl Write for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes += 1;
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A connection speaking HTTP/2 or not, writes of it, and how often they woke the task.
    struct Harness {
        io: BatchedWrites<Recorder>,
        wakes: Arc<CountingWaker>,
        waker: std::task::Waker,
    }

    impl Harness {
        fn new(h2: bool) -> Self {
            let wakes = Arc::new(CountingWaker::default());
            Harness {
                io: BatchedWrites::new(Recorder { h2, writes: 0 }),
                waker: wakes.clone().into(),
                wakes,
            }
        }

        fn write(&mut self) -> Poll<io::Result<usize>> {
            let mut cx = Context::from_waker(&self.waker);
            Pin::new(&mut self.io).poll_write(&mut cx, b"frame")
        }

        /// (writes that reached the connection, wake-ups)
        fn counts(&self) -> (usize, usize) {
            (self.io.inner.writes, self.wakes.0.load(Ordering::SeqCst))
        }
    }

    #[test]
    fn over_http2_a_batch_yields_once_then_writes() {
        let mut h = Harness::new(true);
        assert!(h.write().is_pending());
        assert_eq!(
            h.counts(),
            (0, 1),
            "the yield writes nothing and wakes the task"
        );
        assert!(matches!(h.write(), Poll::Ready(Ok(5))));
        assert_eq!(h.counts(), (1, 1));
        // The next batch yields again, once.
        assert!(h.write().is_pending());
        assert!(h.write().is_ready());
        assert_eq!(h.counts(), (2, 2));
    }

    #[test]
    fn over_http1_writes_go_straight_through() {
        let mut h = Harness::new(false);
        assert!(h.write().is_ready());
        assert!(h.write().is_ready());
        assert_eq!(h.counts(), (2, 0));
    }
}
