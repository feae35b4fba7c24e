//! Why a fleet could not be built or a wait ended without its result.

#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error(transparent)]
    Timeout(#[from] kubefed_sim::testing::Timeout),
    #[error("kubernetes API call failed ({context}): {source}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot start the operator: {0}")]
    Operator(#[from] kubefed::operator::run::RunError),
    #[error("cannot install the federation API: {0}")]
    Install(#[from] kubefed::operator::install::InstallError),
    #[error("simulated fleet: {0}")]
    Fleet(#[from] kubefed_sim::FleetError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

impl TestkitError {
    pub fn kube(context: impl Into<String>) -> impl FnOnce(kube::Error) -> TestkitError {
        let context = context.into();
        move |source| TestkitError::Kube { context, source }
    }
}
