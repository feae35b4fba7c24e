//! The end-to-end harness: a fleet (simulated by `kubefed-sim up`, or real clusters named by
//! `KUBEFED_E2E_KUBECONFIG`), the `kubefed-operator` binary running against its host, and
//! `kubectl` (with `kubectl fed` found through PATH) to drive and observe it.
//!
//! Two fleets: [`FleetKind::Push`] (every member joined push) and [`FleetKind::Mixed`] (the last
//! member joined with `kubectl fed join --mode pull`). The simulator cannot run the agent's
//! Deployment (it has no kubelet), so for a pull member the harness applies the agent's
//! manifests from `-o yaml` without the Deployment and runs `kubefed-agent` as a local child
//! process in its place, with the host credential join produced and the member's context.
//! [`on_each_fleet!`](crate::on_each_fleet) runs one scenario body on both.
//!
//! Child processes are started under a small `sh` wrapper that kills them when its stdin
//! closes, so they end with the fleet handle or with the test process, whichever comes first.
//!
//! Waits follow a [`Timeouts`] profile: seconds on the simulator, minutes on real clusters,
//! where a namespace deletion waits for member namespaces, finalizers and the namespace
//! controller's backoff. Each scenario works in its own namespace (named with the run's id and
//! labelled [`RUN_LABEL`]); its cleanup never fails the scenario, and a run first removes what
//! earlier runs left behind.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Where [`Fleet::take_offline`] points a push member: a port nobody listens on.
const UNREACHABLE_ENDPOINT: &str = "https://127.0.0.1:9";
/// Keeps a push member's endpoint while [`Fleet::take_offline`] has replaced it.
const OFFLINE_ANNOTATION: &str = "kubefed-e2e/offline-endpoint";
/// The federation namespace on the host and on members.
pub const FEDERATION_NAMESPACE: &str = "kube-federation-system";
/// Label on every namespace the suite creates; its value is the id of the run.
pub const RUN_LABEL: &str = "kubefed-e2e/run";
const POLL: Duration = Duration::from_millis(200);

/// How long the suite waits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    /// For something the operator or a cluster brings about: a propagation, a Ready
    /// condition, a CRD being established.
    pub wait: Duration,
    /// For a namespace to disappear everywhere. On a real host that took 40 s: the member
    /// namespaces went in 11 s, then the host's namespace controller retried with backoff.
    pub cleanup: Duration,
}

impl Timeouts {
    /// The simulator answers in milliseconds and deletes at once.
    pub const SIMULATED: Timeouts = Timeouts {
        wait: Duration::from_secs(30),
        cleanup: Duration::from_secs(30),
    };
    /// Real clusters: image pulls, controller resyncs, finalizers and backoff.
    pub const REAL: Timeouts = Timeouts {
        wait: Duration::from_secs(120),
        cleanup: Duration::from_secs(300),
    };

    /// The profile of the fleet, multiplied by `$KUBEFED_E2E_TIMEOUT_SCALE` when set (e.g.
    /// `3` for a slow cloud cluster).
    pub fn for_fleet(simulated: bool) -> Result<Timeouts> {
        let base = if simulated {
            Timeouts::SIMULATED
        } else {
            Timeouts::REAL
        };
        match std::env::var("KUBEFED_E2E_TIMEOUT_SCALE") {
            Ok(text) if !text.trim().is_empty() => {
                let factor: f64 = text.trim().parse().map_err(|_| {
                    HarnessError::new(format!(
                        "KUBEFED_E2E_TIMEOUT_SCALE={text:?} is not a number"
                    ))
                })?;
                Ok(base.scaled(factor))
            }
            _ => Ok(base),
        }
    }

    /// Both timeouts multiplied by `factor` (at least 0.1).
    pub fn scaled(self, factor: f64) -> Timeouts {
        let factor = factor.max(0.1);
        Timeouts {
            wait: self.wait.mul_f64(factor),
            cleanup: self.cleanup.mul_f64(factor),
        }
    }

    /// `--timeout=<n>s` for `kubectl wait`.
    pub fn kubectl_wait(&self) -> String {
        format!("--timeout={}s", self.wait.as_secs().max(1))
    }
}

/// Why the harness could not do what it was asked.
#[derive(Debug)]
pub struct HarnessError(String);

impl HarnessError {
    fn new(message: impl Into<String>) -> Self {
        HarnessError(message.into())
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

pub type Result<T> = std::result::Result<T, HarnessError>;

/// What a command did: exit code (-1 when killed by a signal), stdout and stderr.
#[derive(Clone, Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Fails with the whole output when the command did not exit 0.
    pub fn check(self, what: &str) -> Result<Output> {
        if self.success() {
            Ok(self)
        } else {
            Err(HarnessError::new(format!("{what} failed: {self}")))
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The directory holding the built binaries: the test executable lives in `target/<profile>/deps`.
pub fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| HarnessError::new(format!("cannot locate the test executable: {e}")))?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| HarnessError::new(format!("unexpected test executable path {exe:?}")))
}

/// The path of a built binary, or a message saying how to build it.
pub fn binary(name: &str) -> Result<PathBuf> {
    let path = bin_dir()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::new(format!(
            "{} is missing; run `cargo build --workspace --bins` first",
            path.display()
        )))
    }
}

/// The repository root (for `examples/` and `config/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Polls `probe` until it returns `Some`, at most `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, probe: impl FnMut() -> Option<T>) -> Result<T> {
    kubefed_sim::testing::eventually_blocking(what, timeout, POLL, probe)
        .map_err(|e| HarnessError::new(e.to_string()))
}

/// A child process that is killed when this handle is dropped.
pub struct Background {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Background {
    /// Starts `program args…` with stdout and stderr appended to `log` (a restarted process
    /// keeps the log of the one before).
    pub fn spawn(name: &str, program: &Path, args: &[&str], log: &Path) -> Result<Background> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| HarnessError::new(format!("cannot create {}: {e}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| HarnessError::new(format!("cannot open {}: {e}", log.display())))?;
        // The wrapper waits for its stdin to close, then stops the program.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#""$@" & pid=$!; read _ignored; kill "$pid" 2>/dev/null; wait "$pid""#)
            .arg("sh")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| HarnessError::new(format!("cannot start {name}: {e}")))?;
        let mut child = child;
        let stdin = child.stdin.take();
        Ok(Background {
            name: name.to_string(),
            child,
            stdin,
            log: log.to_path_buf(),
        })
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails when the process has already exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(HarnessError::new(format!(
                "{} exited ({status}); see {}",
                self.name,
                self.log.display()
            ))),
            Err(e) => Err(HarnessError::new(format!("{}: {e}", self.name))),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// How a member is joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberMode {
    /// `kubectl fed join`: the host reaches the member's API server with a token it stores.
    Push,
    /// `kubectl fed join --mode pull`: the member's agent dials the host with a credential
    /// scoped to the host namespace `kubefed-cluster-<name>`; the host has no way to the member.
    Pull,
}

/// Which fleet a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetKind {
    /// Every member joined push.
    Push,
    /// The first member joined push, the last one pull (its agent run by the harness).
    Mixed,
}

impl FleetKind {
    /// The mode of member `index` of `count`.
    pub fn member_mode(self, index: usize, count: usize) -> MemberMode {
        match self {
            FleetKind::Mixed if index + 1 == count && count > 1 => MemberMode::Pull,
            _ => MemberMode::Push,
        }
    }

    /// The value `KUBEFED_E2E_FLEET` takes for this kind.
    pub fn name(self) -> &'static str {
        match self {
            FleetKind::Push => "push",
            FleetKind::Mixed => "mixed",
        }
    }
}

/// A member cluster: its federation name (used in placements), its kubeconfig context and how
/// it is joined.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub context: String,
    pub mode: MemberMode,
}

impl Member {
    pub fn is_pull(&self) -> bool {
        self.mode == MemberMode::Pull
    }
}

/// A host and its members, with the operator running against the host.
pub struct Fleet {
    pub kubeconfig: PathBuf,
    pub host: String,
    pub members: Vec<Member>,
    pub kind: FleetKind,
    /// `true` for the simulated fleet (fault injection available).
    pub simulated: bool,
    pub timeouts: Timeouts,
    /// Tells this run's namespaces from earlier runs' ([`RUN_LABEL`]).
    pub run_id: String,
    work_dir: PathBuf,
    path_env: String,
    operator: Option<Background>,
    /// The local `kubefed-agent` of each pull member that has one running, by member name.
    agents: Mutex<HashMap<String, Background>>,
    /// Held by scenarios that change the whole fleet ([`Fleet::exclusive`]).
    exclusive: Mutex<()>,
    sim: Option<Background>,
}

static SHARED_PUSH: OnceLock<std::result::Result<Fleet, String>> = OnceLock::new();
static SHARED_MIXED: OnceLock<std::result::Result<Fleet, String>> = OnceLock::new();

/// One fleet + operator of `kind` per test binary, started on first use.
pub fn shared(kind: FleetKind) -> Result<&'static Fleet> {
    let cell = match kind {
        FleetKind::Push => &SHARED_PUSH,
        FleetKind::Mixed => &SHARED_MIXED,
    };
    cell.get_or_init(|| Fleet::start(kind).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| HarnessError::new(format!("the {} e2e fleet did not start: {e}", kind.name())))
}

/// The push-only fleet of this test binary.
pub fn shared_fleet() -> Result<&'static Fleet> {
    shared(FleetKind::Push)
}

/// Why the fleet of `kind` does not run in this process, if it does not. On the simulator both
/// run side by side. Real clusters (`KUBEFED_E2E_KUBECONFIG`) form one host, which cannot be
/// both fleets at once: `KUBEFED_E2E_FLEET` (`push`, the default, or `mixed`) says which one
/// the given clusters are, and a second run with the other value covers the other. Panics when
/// `KUBEFED_E2E_FLEET` names neither.
pub fn not_run(kind: FleetKind) -> Option<String> {
    let real = std::env::var("KUBEFED_E2E_KUBECONFIG").is_ok_and(|k| !k.is_empty());
    if !real {
        return None;
    }
    let chosen = std::env::var("KUBEFED_E2E_FLEET").unwrap_or_else(|_| "push".into());
    assert!(
        [FleetKind::Push, FleetKind::Mixed]
            .iter()
            .any(|k| k.name() == chosen.trim()),
        "KUBEFED_E2E_FLEET={chosen:?} names no fleet; use push or mixed"
    );
    (chosen.trim() != kind.name()).then(|| {
        format!(
            "the real clusters form the {:?} fleet (KUBEFED_E2E_FLEET={}); one host cannot be both fleets at once, run again with KUBEFED_E2E_FLEET={} for the {} fleet",
            chosen.trim(),
            chosen.trim(),
            kind.name(),
            kind.name()
        )
    })
}

/// The shared fleet of `kind` for a scenario. Panics when the fleet does not start, and when
/// this run's real clusters form the other fleet ([`not_run`]): a scenario that cannot run
/// fails with the way to run it rather than passing unrun. `make e2e-real` runs both passes.
pub fn scenario_fleet(kind: FleetKind) -> &'static Fleet {
    if let Some(reason) = not_run(kind) {
        panic!(
            "not run on the {} fleet: {reason}; skip these scenarios with `-- --skip {}::`, or use `make e2e-real`, which runs both fleets one after the other",
            kind.name(),
            kind.name(),
        );
    }
    shared(kind).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs each named scenario `fn name(f: &Fleet)` of the calling test file on the push-only
/// fleet (tests `push::name`) and on the mixed push + pull fleet (tests `mixed::name`).
/// `#[mixed(attr)]` before a name puts `#[attr]` on its mixed test only, e.g.
/// `#[mixed(ignore = "why")]` for what pull mode does not do yet.
#[macro_export]
macro_rules! on_each_fleet {
    ($($(#[mixed($mixed:meta)])* $name:ident),* $(,)?) => {
        mod push {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::harness::scenario_fleet($crate::harness::FleetKind::Push));
                }
            )*
        }
        mod mixed {
            $(
                #[test]
                $(#[$mixed])*
                fn $name() {
                    super::$name($crate::harness::scenario_fleet($crate::harness::FleetKind::Mixed));
                }
            )*
        }
    };
}

/// Removes the working directories of earlier test processes that have exited (a fleet shared
/// by a test binary lives in a static and is never dropped, so its directory stays behind).
fn remove_stale_dirs() {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("kubefed-e2e-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !proc.join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Six hex digits, different for every run (and every test binary of a run).
fn run_id() -> String {
    let mixed = now_nanos() ^ (u128::from(std::process::id()) << 20);
    format!("{:06x}", (mixed % 0xff_ffff) as u32)
}

fn unique_dir() -> Result<PathBuf> {
    remove_stale_dirs();
    let nanos = now_nanos();
    let dir = std::env::temp_dir().join(format!("kubefed-e2e-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::new(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

impl Fleet {
    /// Starts (or connects to) the fleet, installs the control plane, starts the operator and
    /// joins every member as `kind` says.
    pub fn start(kind: FleetKind) -> Result<Fleet> {
        let bin = bin_dir()?;
        let operator_bin = binary("kubefed-operator")?;
        binary("kubectl-fed")?;
        if kind == FleetKind::Mixed {
            binary("kubefed-agent")?;
        }
        let work_dir = unique_dir()?;
        let path_env = path_with(&bin);
        let mut fleet = match std::env::var("KUBEFED_E2E_KUBECONFIG") {
            Ok(kubeconfig) if !kubeconfig.is_empty() => {
                let host = std::env::var("KUBEFED_E2E_HOST").unwrap_or_else(|_| "host".into());
                let members = std::env::var("KUBEFED_E2E_MEMBERS")
                    .unwrap_or_else(|_| "cluster1,cluster2".into());
                let contexts: Vec<&str> = members
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect();
                let count = contexts.len();
                Fleet {
                    kind,
                    kubeconfig: PathBuf::from(kubeconfig),
                    timeouts: Timeouts::for_fleet(false)?,
                    run_id: run_id(),
                    host,
                    members: contexts
                        .iter()
                        .enumerate()
                        .map(|(i, context)| Member {
                            name: format!("cluster{}", i + 1),
                            context: context.to_string(),
                            mode: kind.member_mode(i, count),
                        })
                        .collect(),
                    simulated: false,
                    work_dir,
                    path_env,
                    operator: None,
                    agents: Mutex::default(),
                    exclusive: Mutex::default(),
                    sim: None,
                }
            }
            _ => {
                let (sim, kubeconfig) = spawn_sim(&work_dir, 2)?;
                Fleet {
                    kind,
                    kubeconfig,
                    timeouts: Timeouts::for_fleet(true)?,
                    run_id: run_id(),
                    host: "host".into(),
                    members: ["cluster1", "cluster2"]
                        .iter()
                        .enumerate()
                        .map(|(i, c)| Member {
                            name: c.to_string(),
                            context: c.to_string(),
                            mode: kind.member_mode(i, 2),
                        })
                        .collect(),
                    simulated: true,
                    work_dir,
                    path_env,
                    operator: None,
                    agents: Mutex::default(),
                    exclusive: Mutex::default(),
                    sim: Some(sim),
                }
            }
        };
        fleet.wait_reachable()?;
        fleet.install()?;
        let kubeconfig_arg = fleet.host_only_kubeconfig()?.display().to_string();
        let operator = Background::spawn(
            "kubefed-operator",
            &operator_bin,
            &[
                "run",
                "--kubeconfig",
                &kubeconfig_arg,
                "--context",
                &fleet.host,
                "--metrics-bind-address",
                "127.0.0.1:0",
                "--health-probe-bind-address",
                "127.0.0.1:0",
            ],
            &fleet.work_dir.join("operator.log"),
        )?;
        fleet.operator = Some(operator);
        fleet.wait_control_plane()?;
        fleet.remove_leftovers();
        for member in fleet.members.clone() {
            fleet.unjoin_other_mode(&member)?;
            fleet
                .join(&member)
                .check(&format!("joining {}", member.name))?;
        }
        for member in fleet.members.clone() {
            fleet.wait_cluster_ready(&member.name, true)?;
        }
        Ok(fleet)
    }

    /// A kubeconfig with the host's context only, for the operator: it reaches push members
    /// through their KubeFedClusters' Secrets, and pull members not at all.
    fn host_only_kubeconfig(&self) -> Result<PathBuf> {
        let out = self
            .kubectl(
                &self.host,
                &["config", "view", "--minify", "--flatten", "--raw"],
            )
            .check("kubectl config view --minify")?;
        let path = self.work_dir.join("host.kubeconfig");
        std::fs::write(&path, out.stdout)
            .map_err(|e| HarnessError::new(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }

    /// Where the operator (and the agents of pull members) write their logs, for failure
    /// messages.
    pub fn operator_log(&self) -> String {
        let mut logs = self
            .operator
            .as_ref()
            .map(|o| o.log().display().to_string())
            .unwrap_or_default();
        for member in self.members.iter().filter(|m| m.is_pull()) {
            let log = self.agent_log(member);
            logs.push_str(&format!("; agent of {}: {}", member.name, log.display()));
        }
        logs
    }

    /// Serializes the scenarios that change the whole fleet (take a member offline, unjoin
    /// it); each holds this until it has restored the fleet.
    pub fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.exclusive.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_reachable(&mut self) -> Result<()> {
        if let Some(sim) = self.sim.as_mut() {
            wait_for_kubeconfig(sim, &self.kubeconfig, self.timeouts.wait)?;
        }
        let contexts: Vec<String> = std::iter::once(self.host.clone())
            .chain(self.members.iter().map(|m| m.context.clone()))
            .collect();
        for context in contexts {
            wait_for(
                &format!("context {context} to answer"),
                self.timeouts.wait,
                || {
                    self.kubectl(&context, &["get", "namespaces", "-o", "name"])
                        .success()
                        .then_some(())
                },
            )?;
        }
        Ok(())
    }

    /// The federation namespace, and on real clusters the repository's CRDs (`config/crd`, the
    /// operator runs here with the caller's credentials, not in the cluster). The KubeFedConfig
    /// gets fast health checks so offline members are noticed within seconds.
    fn install(&self) -> Result<()> {
        let ns = self.kubectl(&self.host, &["create", "namespace", FEDERATION_NAMESPACE]);
        if !ns.success() && !ns.stderr.contains("AlreadyExists") {
            return Err(HarnessError::new(format!(
                "creating namespace {FEDERATION_NAMESPACE}: {ns}"
            )));
        }
        let config = repo_root().join("config");
        if !self.simulated {
            // CRDs only: the operator creates the default FederatedTypeConfigs at start.
            let crd = config.join("crd").display().to_string();
            self.kubectl(&self.host, &["apply", "-k", &crd])
                .check("installing the CRDs")?;
        }
        let kubefedconfig_crd = config
            .join("crd")
            .join("core.kubefed.io_kubefedconfigs.yaml")
            .display()
            .to_string();
        self.kubectl(&self.host, &["apply", "-f", &kubefedconfig_crd])
            .check("installing the KubeFedConfig CRD")?;
        self.kubectl(
            &self.host,
            &[
                "wait",
                "--for=condition=established",
                &self.timeouts.kubectl_wait(),
                "crd/kubefedconfigs.core.kubefed.io",
            ],
        )
        .check("waiting for the KubeFedConfig CRD")?;
        let exists = self
            .kubectl(
                &self.host,
                &[
                    "get",
                    "kubefedconfig",
                    "kubefed",
                    "-n",
                    FEDERATION_NAMESPACE,
                ],
            )
            .success();
        if !exists {
            let config = json!({
                "apiVersion": "core.kubefed.io/v1beta1",
                "kind": "KubeFedConfig",
                "metadata": {"name": "kubefed", "namespace": FEDERATION_NAMESPACE},
                "spec": {
                    "scope": "Cluster",
                    "clusterHealthCheck": {
                        "period": "1s",
                        "timeout": "2s",
                        "failureThreshold": 2,
                        "successThreshold": 1
                    }
                }
            });
            self.apply(&self.host, &config)?;
        }
        Ok(())
    }

    fn wait_control_plane(&self) -> Result<()> {
        let log = self.operator_log();
        wait_for(
            &format!("the operator to install its CRDs (log: {log})"),
            self.timeouts.wait,
            || {
                self.kubectl(
                    &self.host,
                    &["get", "crd", "federateddeployments.types.kubefed.io"],
                )
                .success()
                .then_some(())
            },
        )?;
        self.kubectl(
            &self.host,
            &[
                "wait",
                "--for=condition=established",
                &self.timeouts.kubectl_wait(),
                "crd/federateddeployments.types.kubefed.io",
                "crd/kubefedclusters.core.kubefed.io",
                "crd/federatednamespaces.types.kubefed.io",
            ],
        )
        .check("waiting for the federation CRDs")?;
        wait_for(
            "the default FederatedTypeConfigs",
            self.timeouts.wait,
            || {
                self.get_json(
                    &self.host,
                    &["federatedtypeconfigs", "-n", FEDERATION_NAMESPACE],
                )
                .filter(|list| list["items"].as_array().is_some_and(|i| i.len() >= 10))
            },
        )?;
        Ok(())
    }

    /// Runs `kubectl --context <context> args…`.
    pub fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        let mut all = vec!["--context", context];
        all.extend_from_slice(args);
        self.run("kubectl", &all, None)
    }

    /// Runs `kubectl --context <context> args…` with `input` on stdin.
    pub fn kubectl_stdin(&self, context: &str, args: &[&str], input: &str) -> Output {
        let mut all = vec!["--context", context];
        all.extend_from_slice(args);
        self.run("kubectl", &all, Some(input))
    }

    /// Runs `kubectl fed args… --host-cluster-context <host>` (the plugin found through PATH).
    pub fn fed(&self, args: &[&str]) -> Output {
        let mut all = vec!["fed"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--host-cluster-context", &self.host]);
        self.run("kubectl", &all, None)
    }

    /// `kubectl fed join` of one member, in its mode. A pull member's agent is (re)started with
    /// the new host credential.
    pub fn join(&self, member: &Member) -> Output {
        match member.mode {
            MemberMode::Push => {
                self.fed(&["join", &member.name, "--cluster-context", &member.context])
            }
            MemberMode::Pull => match self.join_pull(member) {
                Ok(out) => out,
                Err(err) => Output {
                    code: 1,
                    stdout: String::new(),
                    stderr: err.to_string(),
                },
            },
        }
    }

    /// `kubectl fed join NAME --mode pull -o yaml`, then what a user does with the printed
    /// manifests: applies them in the member, except the agent's Deployment, which the harness
    /// replaces with a local `kubefed-agent` reading the host kubeconfig of the printed Secret.
    fn join_pull(&self, member: &Member) -> Result<Output> {
        let out = self
            .fed(&["join", &member.name, "--mode", "pull", "-o", "yaml"])
            .check(&format!("kubectl fed join {} --mode pull", member.name))?;
        let manifests = kubefed::plugin::federate::parse_documents(&out.stdout).map_err(|e| {
            HarnessError::new(format!("the manifests of join --mode pull: {e}\n{out}"))
        })?;
        let mut host_kubeconfig = None;
        let mut items = Vec::new();
        for manifest in manifests {
            match manifest["kind"].as_str() {
                Some("Deployment") => continue,
                Some("Secret") => {
                    host_kubeconfig = manifest["stringData"]["kubeconfig"]
                        .as_str()
                        .map(str::to_string);
                }
                _ => {}
            }
            items.push(manifest);
        }
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        self.kubectl_stdin(&member.context, &["apply", "-f", "-"], &list.to_string())
            .check(&format!(
                "applying the agent's manifests in {}",
                member.name
            ))?;
        let host_kubeconfig = host_kubeconfig.ok_or_else(|| {
            HarnessError::new(format!(
                "join --mode pull printed no Secret with the host kubeconfig:\n{out}"
            ))
        })?;
        let path = self.agent_kubeconfig(member);
        std::fs::write(&path, host_kubeconfig)
            .map_err(|e| HarnessError::new(format!("cannot write {}: {e}", path.display())))?;
        self.start_agent(member)?;
        Ok(out)
    }

    fn agent_kubeconfig(&self, member: &Member) -> PathBuf {
        self.work_dir
            .join(format!("agent-{}.host.kubeconfig", member.name))
    }

    fn agent_log(&self, member: &Member) -> PathBuf {
        self.work_dir.join(format!("agent-{}.log", member.name))
    }

    fn agents(&self) -> MutexGuard<'_, HashMap<String, Background>> {
        self.agents.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the local agent of a pull member (after stopping a running one), with the host
    /// kubeconfig of its last join and the member's context of the fleet's kubeconfig. Its
    /// heartbeat follows the KubeFedConfig's 1 s health-check period.
    pub fn start_agent(&self, member: &Member) -> Result<()> {
        self.stop_agent(member);
        let bin = binary("kubefed-agent")?;
        let host_kubeconfig = self.agent_kubeconfig(member).display().to_string();
        let kubeconfig = self.kubeconfig.display().to_string();
        let agent = Background::spawn(
            &format!("kubefed-agent of {}", member.name),
            &bin,
            &[
                "--cluster-name",
                &member.name,
                "--host-kubeconfig",
                &host_kubeconfig,
                "--kubeconfig",
                &kubeconfig,
                "--context",
                &member.context,
                "--heartbeat-seconds",
                "1",
            ],
            &self.agent_log(member),
        )?;
        self.agents().insert(member.name.clone(), agent);
        Ok(())
    }

    /// Stops the local agent of a pull member, as deleting its Deployment would.
    pub fn stop_agent(&self, member: &Member) {
        let agent = self.agents().remove(&member.name);
        drop(agent);
    }

    pub fn agent_running(&self, member: &Member) -> bool {
        self.agents()
            .get_mut(&member.name)
            .is_some_and(|a| a.check_running().is_ok())
    }

    /// `kubectl fed unjoin NAME --cluster-context <member>`; a pull member's local agent is
    /// stopped after it, as the member's agent Deployment goes with its namespace.
    pub fn unjoin(&self, member: &Member) -> Output {
        let out = self.fed(&["unjoin", &member.name, "--cluster-context", &member.context]);
        if member.is_pull() {
            self.stop_agent(member);
        }
        out
    }

    /// Unjoins `member` when an earlier run on these clusters joined it in the other mode.
    fn unjoin_other_mode(&self, member: &Member) -> Result<()> {
        let Some(cluster) = self.get_json(
            &self.host,
            &["kubefedcluster", &member.name, "-n", FEDERATION_NAMESPACE],
        ) else {
            return Ok(());
        };
        let pull = cluster["metadata"]["annotations"]["kubefed.io/mode"] == "pull";
        if pull != member.is_pull() {
            eprintln!(
                "{} was joined in the other mode by an earlier run; unjoining it first",
                member.name
            );
            self.unjoin(member)
                .check(&format!("unjoining {}", member.name))?;
        }
        Ok(())
    }

    /// Takes `member` away from the host. A push member's KubeFedCluster is pointed at a port
    /// where nothing listens (its original endpoint is kept in an annotation), so the host's
    /// requests are refused as for a member that is down; this works on real clusters too. A
    /// pull member's agent is stopped: the host sees no heartbeat, as when the agent is gone.
    pub fn take_offline(&self, member: &Member) -> Result<()> {
        match member.mode {
            MemberMode::Push => {
                let cluster = self
                    .get_json(
                        &self.host,
                        &["kubefedcluster", &member.name, "-n", FEDERATION_NAMESPACE],
                    )
                    .ok_or_else(|| {
                        HarnessError::new(format!("no KubeFedCluster {}", member.name))
                    })?;
                let endpoint = cluster["spec"]["apiEndpoint"].as_str().unwrap_or_default();
                if endpoint == UNREACHABLE_ENDPOINT {
                    return Ok(());
                }
                let patch = json!({
                    "metadata": {"annotations": {OFFLINE_ANNOTATION: endpoint}},
                    "spec": {"apiEndpoint": UNREACHABLE_ENDPOINT},
                });
                self.patch_cluster(member, &patch)
            }
            MemberMode::Pull => {
                self.stop_agent(member);
                Ok(())
            }
        }
    }

    /// Undoes [`Fleet::take_offline`] (also when nothing was taken offline).
    pub fn bring_online(&self, member: &Member) -> Result<()> {
        match member.mode {
            MemberMode::Push => {
                let Some(cluster) = self.get_json(
                    &self.host,
                    &["kubefedcluster", &member.name, "-n", FEDERATION_NAMESPACE],
                ) else {
                    return Ok(());
                };
                let Some(endpoint) =
                    cluster["metadata"]["annotations"][OFFLINE_ANNOTATION].as_str()
                else {
                    return Ok(());
                };
                let patch = json!({
                    "metadata": {"annotations": {OFFLINE_ANNOTATION: null}},
                    "spec": {"apiEndpoint": endpoint},
                });
                self.patch_cluster(member, &patch)
            }
            MemberMode::Pull if self.agent_running(member) => Ok(()),
            MemberMode::Pull => self.start_agent(member),
        }
    }

    fn patch_cluster(&self, member: &Member, patch: &Value) -> Result<()> {
        let patch = patch.to_string();
        self.kubectl(
            &self.host,
            &[
                "patch",
                "kubefedcluster",
                &member.name,
                "-n",
                FEDERATION_NAMESPACE,
                "--type",
                "merge",
                "-p",
                &patch,
            ],
        )
        .check(&format!("patching KubeFedCluster {}", member.name))
        .map(|_| ())
    }

    /// `kubefed-sim fault … <fault>`; only on the simulated fleet.
    pub fn fault(&self, member: &Member, fault: &str) -> Result<Output> {
        if !self.simulated {
            return Err(HarnessError::new(
                "fault injection needs the simulated fleet",
            ));
        }
        let sim = binary("kubefed-sim")?;
        let kubeconfig = self.kubeconfig.display().to_string();
        let sim = sim.display().to_string();
        self.run(
            &sim,
            &[
                "fault",
                "--kubeconfig",
                &kubeconfig,
                "--cluster",
                &member.context,
                fault,
            ],
            None,
        )
        .check(&format!("kubefed-sim fault {fault}"))
    }

    fn run(&self, program: &str, args: &[&str], input: Option<&str>) -> Output {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", &self.path_env);
        run_command(command, program, input)
    }

    /// `kubectl get args… -o json`, `None` when it fails (e.g. NotFound).
    pub fn get_json(&self, context: &str, args: &[&str]) -> Option<Value> {
        get_json(|all| self.kubectl(context, all), args)
    }
    /// `kubectl apply -f -` of one object.
    pub fn apply(&self, context: &str, object: &Value) -> Result<Output> {
        self.kubectl_stdin(context, &["apply", "-f", "-"], &object.to_string())
            .check(&format!("applying {}", object["metadata"]["name"]))
    }

    /// The `Ready` condition status of a KubeFedCluster (`True`, `False`, …).
    pub fn cluster_ready(&self, name: &str) -> Option<String> {
        let cluster = self.get_json(
            &self.host,
            &["kubefedcluster", name, "-n", FEDERATION_NAMESPACE],
        )?;
        condition(&cluster, "Ready").map(|c| c["status"].as_str().unwrap_or_default().to_string())
    }

    /// Waits until the KubeFedCluster's Ready condition is `ready`.
    pub fn wait_cluster_ready(&self, name: &str, ready: bool) -> Result<()> {
        let want = if ready { "True" } else { "False" };
        wait_for(
            &format!("KubeFedCluster {name} Ready={want}"),
            self.timeouts.wait,
            || (self.cluster_ready(name).as_deref() == Some(want)).then_some(()),
        )
    }

    /// Every context: host first, then members.
    pub fn contexts(&self) -> Vec<String> {
        std::iter::once(self.host.clone())
            .chain(self.members.iter().map(|m| m.context.clone()))
            .collect()
    }

    /// Deletes `namespace` on the host and every member and waits until it is gone everywhere
    /// (at most [`Timeouts::cleanup`]).
    pub fn delete_namespace(&self, namespace: &str) -> Result<()> {
        for context in self.contexts() {
            self.kubectl(
                &context,
                &[
                    "delete",
                    "namespace",
                    namespace,
                    "--ignore-not-found",
                    "--wait=false",
                ],
            )
            .check(&format!("deleting namespace {namespace} in {context}"))?;
        }
        for context in self.contexts() {
            wait_for(
                &format!("namespace {namespace} to disappear from {context}"),
                self.timeouts.cleanup,
                || {
                    let out = self.kubectl(&context, &["get", "namespace", namespace]);
                    (!out.success() && out.stderr.contains("NotFound")).then_some(())
                },
            )?;
        }
        Ok(())
    }

    /// The end of a scenario: deletes `namespace` everywhere and waits for it, but only warns
    /// when that is slow. The scenario's checks have passed by then, and the operator keeps
    /// deleting (it runs until the test binary ends; a later run removes what is left).
    pub fn cleanup_namespace(&self, namespace: &str) {
        let started = Instant::now();
        match self.delete_namespace(namespace) {
            Ok(()) => {}
            Err(err) => eprintln!(
                "warning: cleanup of namespace {namespace} not finished after {:?} ({err}); continuing",
                started.elapsed()
            ),
        }
    }

    /// A name for a scenario's namespace, unique to this run.
    pub fn unique_namespace(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.run_id)
    }

    fn labelled_namespace(&self, name: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {RUN_LABEL: self.run_id}}
        })
    }

    /// A new namespace on the host only, for this run; deleted when the guard drops.
    pub fn scenario_namespace(&self, prefix: &str) -> Result<ScenarioNamespace<'_>> {
        let name = self.unique_namespace(prefix);
        self.apply(&self.host, &self.labelled_namespace(&name))?;
        Ok(ScenarioNamespace { fleet: self, name })
    }

    /// A new namespace for this run, federated to every member (waits until each has it);
    /// deleted everywhere when the guard drops.
    pub fn federated_scenario_namespace(&self, prefix: &str) -> Result<ScenarioNamespace<'_>> {
        let guard = self.scenario_namespace(prefix)?;
        self.federate_namespace(&guard.name)?;
        Ok(guard)
    }

    /// `namespace` (a fixed name, e.g. from `examples/`) cleared of what an earlier run left,
    /// so the scenario starts from nothing; the guard deletes it again at the end.
    pub fn reset_namespace(&self, namespace: &str) -> Result<ScenarioNamespace<'_>> {
        self.delete_namespace(namespace)?;
        Ok(ScenarioNamespace {
            fleet: self,
            name: namespace.to_string(),
        })
    }

    /// Federates the existing host namespace `namespace` to every member (members' copies carry
    /// [`RUN_LABEL`] too) and waits until each has it.
    pub fn federate_namespace(&self, namespace: &str) -> Result<()> {
        self.apply(
            &self.host,
            &json!({
                "apiVersion": "types.kubefed.io/v1beta1",
                "kind": "FederatedNamespace",
                "metadata": {"name": namespace, "namespace": namespace},
                "spec": {
                    "template": {"metadata": {"labels": {RUN_LABEL: self.run_id}}},
                    "placement": {"clusterSelector": {}}
                }
            }),
        )?;
        for member in &self.members {
            wait_for(
                &format!("namespace {namespace} in {}", member.name),
                self.timeouts.wait,
                || {
                    self.kubectl(&member.context, &["get", "namespace", namespace])
                        .success()
                        .then_some(())
                },
            )?;
        }
        Ok(())
    }

    /// Starts deleting the namespaces earlier runs left behind (labelled [`RUN_LABEL`] with
    /// another id), without waiting: the operator finishes it while this run goes on.
    fn remove_leftovers(&self) {
        let selector = format!("{RUN_LABEL},{RUN_LABEL}!={}", self.run_id);
        for context in self.contexts() {
            let out = self.kubectl(
                &context,
                &["get", "namespaces", "-l", &selector, "-o", "name"],
            );
            let names: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
            if names.is_empty() {
                continue;
            }
            eprintln!(
                "removing namespaces left by earlier runs in {context}: {}",
                names.join(" ")
            );
            let mut args = vec!["delete", "--ignore-not-found", "--wait=false"];
            args.extend(names);
            let _ = self.kubectl(&context, &args);
        }
    }

    /// The member by federation name.
    pub fn member(&self, name: &str) -> Result<&Member> {
        self.members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| HarnessError::new(format!("no member named {name}")))
    }
}

/// A scenario's namespace: deleted everywhere (best effort, see
/// [`Fleet::cleanup_namespace`]) when dropped, also when the scenario panics.
pub struct ScenarioNamespace<'a> {
    fleet: &'a Fleet,
    pub name: String,
}

impl Drop for ScenarioNamespace<'_> {
    fn drop(&mut self) {
        self.fleet.cleanup_namespace(&self.name);
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // The agents and the operator first, then the fleet they talk to.
        self.agents().clear();
        drop(self.operator.take());
        drop(self.sim.take());
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

/// Runs a prepared command to completion, with `input` on stdin when given.
pub fn run_command(mut command: Command, program: &str, input: Option<&str>) -> Output {
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Output {
                code: -1,
                stdout: String::new(),
                stderr: format!("cannot run {program}: {e}"),
            };
        }
    };
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(input.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) => Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => Output {
            code: -1,
            stdout: String::new(),
            stderr: format!("waiting for {program}: {e}"),
        },
    }
}

/// `kubectl get args… -o json` through `kubectl` (runs kubectl with its context), `None` when
/// it fails (e.g. NotFound).
fn get_json(kubectl: impl Fn(&[&str]) -> Output, args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = kubectl(&all);
    if !out.success() {
        return None;
    }
    serde_json::from_str(&out.stdout).ok()
}

/// `program args…` in the repository root, without any cluster (e.g. `kubectl kustomize`).
pub fn run_in_repo(program: &str, args: &[&str]) -> Output {
    let mut command = Command::new(program);
    command.args(args).current_dir(repo_root());
    run_command(command, program, None)
}

/// `PATH` with the built binaries first, so `kubectl fed` finds `kubectl-fed`.
pub fn path_with(bin: &Path) -> String {
    match std::env::var_os("PATH") {
        Some(path) => format!("{}:{}", bin.display(), path.to_string_lossy()),
        None => bin.display().to_string(),
    }
}

/// Starts `kubefed-sim up --members <members>`, writing its kubeconfig into `work_dir`.
pub fn spawn_sim(work_dir: &Path, members: usize) -> Result<(Background, PathBuf)> {
    spawn_sim_with(work_dir, members, &[])
}

/// [`spawn_sim`] with more `kubefed-sim up` flags.
pub fn spawn_sim_with(
    work_dir: &Path,
    members: usize,
    flags: &[&str],
) -> Result<(Background, PathBuf)> {
    let sim_bin = binary("kubefed-sim")?;
    let kubeconfig = work_dir.join("fleet.kubeconfig");
    let kubeconfig_arg = kubeconfig.display().to_string();
    let members = members.to_string();
    let mut args = vec!["up", "--members", &members, "--kubeconfig", &kubeconfig_arg];
    args.extend_from_slice(flags);
    let sim = Background::spawn("kubefed-sim", &sim_bin, &args, &work_dir.join("fleet.log"))?;
    Ok((sim, kubeconfig))
}

/// Waits until the simulator has written its kubeconfig (it does once every cluster listens).
pub fn wait_for_kubeconfig(
    sim: &mut Background,
    kubeconfig: &Path,
    timeout: Duration,
) -> Result<()> {
    let log = sim.log().display().to_string();
    let start = Instant::now();
    while !kubeconfig.metadata().map(|m| m.len() > 0).unwrap_or(false) {
        sim.check_running()?;
        if start.elapsed() > timeout {
            return Err(HarnessError::new(format!(
                "kubefed-sim wrote no kubeconfig; see {log}"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A simulated fleet of its own (`kubefed-sim up`) with nothing installed, for tests that
/// install the federation themselves. Commands run in the repository root with its kubeconfig
/// (current context `host`) and the built binaries first on `PATH`.
pub struct BareSim {
    pub kubeconfig: PathBuf,
    pub dir: PathBuf,
    pub path_env: String,
    process: Option<Background>,
}

impl BareSim {
    pub fn start(members: usize) -> Result<BareSim> {
        Self::start_with(members, &[])
    }

    /// A simulator started with more `kubefed-sim up` flags.
    pub fn start_with(members: usize, flags: &[&str]) -> Result<BareSim> {
        let dir = unique_dir()?;
        let (mut process, kubeconfig) = spawn_sim_with(&dir, members, flags)?;
        wait_for_kubeconfig(&mut process, &kubeconfig, Timeouts::SIMULATED.wait)?;
        Ok(BareSim {
            kubeconfig,
            path_env: path_with(&bin_dir()?),
            dir,
            process: Some(process),
        })
    }

    /// `program` with the fleet's kubeconfig and `PATH`, in the repository root.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", &self.path_env)
            .current_dir(repo_root());
        command
    }

    /// `sh -c <line>`, as a user would type it.
    pub fn shell(&self, line: &str) -> Output {
        let mut command = self.command("sh");
        command.args(["-c", line]);
        run_command(command, "sh", None)
    }

    /// `kubectl args…` on the current context (the host), with `input` on stdin when given.
    pub fn kubectl(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut command = self.command("kubectl");
        command.args(args);
        run_command(command, "kubectl", input)
    }

    /// `kubectl get args… -o json` on the host.
    pub fn get_json(&self, args: &[&str]) -> Option<Value> {
        get_json(|all| self.kubectl(all, None), args)
    }
}

impl Drop for BareSim {
    fn drop(&mut self) {
        drop(self.process.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The condition of `type_` in `.status.conditions`.
pub fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The `.status.clusters[]` entry of a federated object for `cluster`.
pub fn cluster_status<'a>(object: &'a Value, cluster: &str) -> Option<&'a Value> {
    object["status"]["clusters"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_clusters_get_minutes_and_scaling_applies_to_both() {
        assert!(Timeouts::REAL.cleanup >= Duration::from_secs(120));
        assert!(Timeouts::REAL.wait > Timeouts::SIMULATED.wait);
        let slow = Timeouts::REAL.scaled(2.5);
        assert_eq!(slow.wait, Duration::from_secs(300));
        assert_eq!(slow.cleanup, Duration::from_secs(750));
        assert_eq!(slow.kubectl_wait(), "--timeout=300s");
        assert_eq!(Timeouts::SIMULATED.scaled(0.0).wait, Duration::from_secs(3));
    }

    #[test]
    fn only_the_last_member_of_a_mixed_fleet_pulls() {
        use MemberMode::{Pull, Push};
        let modes = |kind: FleetKind, count: usize| -> Vec<MemberMode> {
            (0..count).map(|i| kind.member_mode(i, count)).collect()
        };
        assert_eq!(modes(FleetKind::Push, 2), [Push, Push]);
        assert_eq!(modes(FleetKind::Mixed, 2), [Push, Pull]);
        assert_eq!(modes(FleetKind::Mixed, 3), [Push, Push, Pull]);
        // One member cannot be mixed: it stays push rather than leave the fleet without one.
        assert_eq!(modes(FleetKind::Mixed, 1), [Push]);
    }

    #[test]
    fn run_ids_fit_namespace_names() {
        let id = run_id();
        assert_eq!(id.len(), 6, "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}
