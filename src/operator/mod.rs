//! The operator process: logging, probes and leader election around the controllers.

pub mod install;
pub mod leader;
pub mod logging;
pub mod options;
pub mod probes;
pub mod run;
pub mod settings;
