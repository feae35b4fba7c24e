//! Why a benchmark run fails: the operator did not converge, or produced wrong objects.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("wrong content: {0}")]
    Incorrect(String),
    #[error("kubernetes API call failed ({context}): {source}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("simulator: {0}")]
    Sim(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fleet(#[from] kubefed_testkit::TestkitError),
    #[error("cannot encode results: {0}")]
    Json(#[from] serde_json::Error),
}

impl BenchError {
    pub fn kube(context: impl Into<String>) -> impl FnOnce(kube::Error) -> BenchError {
        let context = context.into();
        move |source| BenchError::Kube { context, source }
    }
}
