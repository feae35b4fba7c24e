//! Log setup: human-readable text for terminals, JSON for log pipelines.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// kube's watcher logs every failed list or watch, at WARN and with the whole API status,
/// on every retry. The member caches report those failures themselves, once per change of
/// state on one short line, so the watcher's own lines are kept to errors unless asked for.
const QUIET_WATCHER: &str = "kube_runtime::watcher=error";

/// The filter directives for `--log-level`.
fn directives(level: &str) -> String {
    if level.contains("kube_runtime") {
        level.to_string()
    } else {
        format!("{level},{QUIET_WATCHER}")
    }
}

/// Installs the global subscriber. `level` is an EnvFilter directive (`info`,
/// `kubefed=debug,kube=info`); `RUST_LOG` wins when set.
pub fn init(format: LogFormat, level: &str) -> Result<(), String> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(directives(level)))
        .map_err(|e| format!("invalid --log-level {level:?}: {e}"))?;
    // Colours only for a terminal: a log pipeline gets plain lines.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watcher_is_quiet_unless_asked_for() {
        assert_eq!(directives("info"), "info,kube_runtime::watcher=error");
        assert_eq!(
            directives("debug,kube_runtime=debug"),
            "debug,kube_runtime=debug"
        );
        assert!(EnvFilter::try_new(directives("kubefed=debug")).is_ok());
    }
}
