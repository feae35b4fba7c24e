//! Command line of `fedbench` and the plan it resolves to.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Measures the operator against a simulated fleet and a bare-client lower bound.
#[derive(Debug, Parser)]
#[command(name = "fedbench")]
pub struct Options {
    /// Fleet sizes to run, comma separated [default: 10,100; 10,100,1000 with --large].
    #[arg(long, value_delimiter = ',')]
    pub members: Vec<usize>,
    /// Federated objects for the throughput, update and memory figures
    /// [default: 1000; 10000 with --large].
    #[arg(long)]
    pub objects: Option<usize>,
    /// Bytes of padding in each object's template (an env var).
    #[arg(long, default_value_t = 256)]
    pub payload_bytes: usize,
    /// Extra latency of every member API request.
    #[arg(long, default_value_t = 0)]
    pub member_latency_ms: u64,
    /// Objects timed one by one for the latency percentiles [default: 20].
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Length of the steady-state window.
    #[arg(long, default_value_t = 5)]
    pub steady_seconds: u64,
    /// How long the operator may take to converge before the run fails [default: 600; 60
    /// with --smoke].
    #[arg(long)]
    pub timeout_seconds: Option<u64>,
    /// Larger defaults: 1000 members and 10000 objects.
    #[arg(long)]
    pub large: bool,
    /// A scale preset that fits a 2-core, 24 GiB machine with the simulator in the same
    /// process: `members` is N = 1000 × M = 100, `objects` is N = 100 × M = 10000.
    #[arg(long, value_enum, conflicts_with_all = ["large", "smoke"])]
    pub preset: Option<Preset>,
    /// Requests in flight per member, for the operator and the bare client alike [default:
    /// the operator's default; 2 with --preset members, to stay within the open-file limit
    /// at 1000 members over HTTP/1].
    #[arg(long)]
    pub member_in_flight: Option<usize>,
    /// Members serve HTTPS and join with a CA bundle, as real members do; the operator then
    /// reaches each over one HTTP/2 connection instead of an HTTP/1 connection per watch and
    /// request in flight. The lower bound's bare clients use HTTPS too (HTTP/1.1).
    #[arg(long)]
    pub tls: bool,
    /// Tiny sizes (2 members, 5 objects, 1 repeat): a quick correctness run.
    #[arg(long, conflicts_with = "large")]
    pub smoke: bool,
    /// Instead of the full run: N pull members next to N push members, side by side (fan-out,
    /// host requests and writes, host storage per member object).
    #[arg(long, conflicts_with = "smoke")]
    pub pull: bool,
    /// Instead of the full run: failover of a leader-elected operator to a standby, after a
    /// crash and after a graceful stop, with M federated objects [default M: 100].
    #[arg(long, conflicts_with_all = ["smoke", "pull"])]
    pub failover: bool,
    /// Where to write the JSON results [default: target/fedbench/<timestamp>.json].
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Preset {
    /// N = 1000 members, M = 100 objects.
    Members,
    /// N = 100 members, M = 10000 objects.
    Objects,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub member_counts: Vec<usize>,
    pub objects: usize,
    pub payload_bytes: usize,
    pub member_latency: Duration,
    pub repeats: usize,
    pub steady: Duration,
    pub timeout: Duration,
    pub member_in_flight: usize,
    pub output: Option<PathBuf>,
    /// Members over HTTPS (see [`Options::tls`]).
    pub tls: bool,
    pub pull: bool,
    pub failover: bool,
}

impl Options {
    pub fn plan(self) -> Plan {
        let (members, objects, repeats, steady) = if self.smoke {
            (vec![2], 5, 1, 1)
        } else if self.preset == Some(Preset::Members) {
            (vec![1000], 100, 5, self.steady_seconds)
        } else if self.preset == Some(Preset::Objects) {
            (vec![100], 10_000, 5, self.steady_seconds)
        } else if self.large {
            (vec![10, 100, 1000], 10_000, 20, self.steady_seconds)
        } else {
            (vec![10, 100], 1_000, 20, self.steady_seconds)
        };
        Plan {
            member_counts: if self.members.is_empty() {
                members
            } else {
                self.members
            },
            objects: self
                .objects
                .unwrap_or(if self.failover { 100 } else { objects })
                .max(1),
            payload_bytes: self.payload_bytes,
            member_latency: Duration::from_millis(self.member_latency_ms),
            repeats: self.repeats.unwrap_or(repeats).max(1),
            steady: Duration::from_secs(steady.max(1)),
            timeout: Duration::from_secs(self.timeout_seconds.unwrap_or(if self.smoke {
                60
            } else if self.preset.is_some() {
                3600
            } else {
                600
            })),
            member_in_flight: self.member_in_flight.unwrap_or(match self.preset {
                Some(Preset::Members) => 2,
                _ => kubefed::members::connection::DEFAULT_MEMBER_IN_FLIGHT,
            }),
            output: self.output,
            tls: self.tls,
            pull: self.pull,
            failover: self.failover,
        }
    }
}
