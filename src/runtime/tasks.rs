//! Background tasks that end with their owner: aborted when the owner is dropped, including
//! when the owner's future is dropped half-way (the operator is stopped or loses its lease).
//! Dropping a `JoinHandle` alone would leave the task running.

use std::future::Future;
use tokio::task::JoinHandle;

#[derive(Debug, Default)]
pub struct TaskSet(Vec<JoinHandle<()>>);

impl TaskSet {
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(task));
    }
}

impl Drop for TaskSet {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn tasks_end_with_their_owner() {
        let finished = Arc::new(AtomicBool::new(false));
        let mut tasks = TaskSet::default();
        let flag = finished.clone();
        tasks.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
        });
        drop(tasks);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!finished.load(Ordering::SeqCst));
    }
}
