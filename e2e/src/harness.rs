//! The end-to-end harness: a fleet (simulated by `kubefed-sim up`, or real clusters named by
//! `KUBEFED_E2E_KUBECONFIG`), the `kubefed-operator` binary running against its host, and
//! `kubectl` (with `kubectl fed` found through PATH) to drive and observe it.
//!
//! Child processes are started under a small `sh` wrapper that kills them when its stdin
//! closes, so they end with the fleet handle or with the test process, whichever comes first.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The federation namespace on the host and on members.
pub const FEDERATION_NAMESPACE: &str = "kube-federation-system";
/// How long a condition may take to hold before a wait gives up.
pub const TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);

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
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if start.elapsed() > timeout {
            return Err(HarnessError::new(format!(
                "timed out after {timeout:?} waiting for {what}"
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// A child process that is killed when this handle is dropped.
pub struct Background {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Background {
    /// Starts `program args…` with stdout and stderr going to `log`.
    pub fn spawn(name: &str, program: &Path, args: &[&str], log: &Path) -> Result<Background> {
        let out = File::create(log)
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

/// A member cluster: its federation name (used in placements) and its kubeconfig context.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub context: String,
}

/// A host and its members, with the operator running against the host.
pub struct Fleet {
    pub kubeconfig: PathBuf,
    pub host: String,
    pub members: Vec<Member>,
    /// `true` for the simulated fleet (fault injection available).
    pub simulated: bool,
    work_dir: PathBuf,
    path_env: String,
    operator: Option<Background>,
    sim: Option<Background>,
}

static SHARED: OnceLock<std::result::Result<Fleet, String>> = OnceLock::new();

/// One fleet + operator per test binary, started on first use.
pub fn shared_fleet() -> Result<&'static Fleet> {
    SHARED
        .get_or_init(|| Fleet::start().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| HarnessError::new(format!("the e2e fleet did not start: {e}")))
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

fn unique_dir() -> Result<PathBuf> {
    remove_stale_dirs();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("kubefed-e2e-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::new(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

impl Fleet {
    /// Starts (or connects to) the fleet, installs the control plane, starts the operator and
    /// joins every member.
    pub fn start() -> Result<Fleet> {
        let bin = bin_dir()?;
        let operator_bin = binary("kubefed-operator")?;
        binary("kubectl-fed")?;
        let work_dir = unique_dir()?;
        let path_env = match std::env::var_os("PATH") {
            Some(path) => format!("{}:{}", bin.display(), path.to_string_lossy()),
            None => bin.display().to_string(),
        };
        let mut fleet = match std::env::var("KUBEFED_E2E_KUBECONFIG") {
            Ok(kubeconfig) if !kubeconfig.is_empty() => {
                let host = std::env::var("KUBEFED_E2E_HOST").unwrap_or_else(|_| "host".into());
                let members = std::env::var("KUBEFED_E2E_MEMBERS")
                    .unwrap_or_else(|_| "cluster1,cluster2".into());
                Fleet {
                    kubeconfig: PathBuf::from(kubeconfig),
                    host,
                    members: members
                        .split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .enumerate()
                        .map(|(i, context)| Member {
                            name: format!("cluster{}", i + 1),
                            context: context.to_string(),
                        })
                        .collect(),
                    simulated: false,
                    work_dir,
                    path_env,
                    operator: None,
                    sim: None,
                }
            }
            _ => {
                let sim_bin = binary("kubefed-sim")?;
                let kubeconfig = work_dir.join("fleet.kubeconfig");
                let kubeconfig_arg = kubeconfig.display().to_string();
                let sim = Background::spawn(
                    "kubefed-sim",
                    &sim_bin,
                    &["up", "--members", "2", "--kubeconfig", &kubeconfig_arg],
                    &work_dir.join("fleet.log"),
                )?;
                Fleet {
                    kubeconfig,
                    host: "host".into(),
                    members: ["cluster1", "cluster2"]
                        .iter()
                        .map(|c| Member {
                            name: c.to_string(),
                            context: c.to_string(),
                        })
                        .collect(),
                    simulated: true,
                    work_dir,
                    path_env,
                    operator: None,
                    sim: Some(sim),
                }
            }
        };
        fleet.wait_reachable()?;
        fleet.install()?;
        let kubeconfig_arg = fleet.kubeconfig.display().to_string();
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
        for member in fleet.members.clone() {
            fleet
                .join(&member)
                .check(&format!("joining {}", member.name))?;
        }
        for member in fleet.members.clone() {
            fleet.wait_cluster_ready(&member.name, true)?;
        }
        Ok(fleet)
    }

    /// Where the operator writes its log, for failure messages.
    pub fn operator_log(&self) -> String {
        self.operator
            .as_ref()
            .map(|o| o.log().display().to_string())
            .unwrap_or_default()
    }

    fn wait_reachable(&mut self) -> Result<()> {
        if let Some(sim) = self.sim.as_mut() {
            let log = sim.log().display().to_string();
            let kubeconfig = self.kubeconfig.clone();
            let start = Instant::now();
            while !kubeconfig.metadata().map(|m| m.len() > 0).unwrap_or(false) {
                sim.check_running()?;
                if start.elapsed() > TIMEOUT {
                    return Err(HarnessError::new(format!(
                        "kubefed-sim wrote no kubeconfig; see {log}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let contexts: Vec<String> = std::iter::once(self.host.clone())
            .chain(self.members.iter().map(|m| m.context.clone()))
            .collect();
        for context in contexts {
            wait_for(&format!("context {context} to answer"), TIMEOUT, || {
                self.kubectl(&context, &["get", "namespaces", "-o", "name"])
                    .success()
                    .then_some(())
            })?;
        }
        Ok(())
    }

    /// The federation namespace, and on real clusters the repository's CRDs and RBAC. The
    /// KubeFedConfig gets fast health checks so offline members are noticed within seconds.
    fn install(&self) -> Result<()> {
        let ns = self.kubectl(&self.host, &["create", "namespace", FEDERATION_NAMESPACE]);
        if !ns.success() && !ns.stderr.contains("AlreadyExists") {
            return Err(HarnessError::new(format!(
                "creating namespace {FEDERATION_NAMESPACE}: {ns}"
            )));
        }
        let config = repo_root().join("config");
        if !self.simulated {
            let crd = config.join("crd").display().to_string();
            let rbac = config.join("rbac").display().to_string();
            // The CRDs apply, their custom resources may need a second pass once established.
            let _ = self.kubectl(&self.host, &["apply", "-f", &crd, "-f", &rbac]);
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
                "--timeout=30s",
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
            TIMEOUT,
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
                "--timeout=30s",
                "crd/federateddeployments.types.kubefed.io",
                "crd/kubefedclusters.core.kubefed.io",
                "crd/federatednamespaces.types.kubefed.io",
            ],
        )
        .check("waiting for the federation CRDs")?;
        wait_for("the default FederatedTypeConfigs", TIMEOUT, || {
            self.get_json(
                &self.host,
                &["federatedtypeconfigs", "-n", FEDERATION_NAMESPACE],
            )
            .filter(|list| list["items"].as_array().is_some_and(|i| i.len() >= 10))
        })?;
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

    /// `kubectl fed join` of one member.
    pub fn join(&self, member: &Member) -> Output {
        self.fed(&["join", &member.name, "--cluster-context", &member.context])
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
            .env("PATH", &self.path_env)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Output {
                    code: -1,
                    stdout: String::new(),
                    stderr: format!("cannot run {program}: {e}"),
                };
            }
        };
        let mut child = child;
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

    /// `kubectl get args… -o json`, `None` when it fails (e.g. NotFound).
    pub fn get_json(&self, context: &str, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(context, &all);
        if !out.success() {
            return None;
        }
        serde_json::from_str(&out.stdout).ok()
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
            TIMEOUT,
            || (self.cluster_ready(name).as_deref() == Some(want)).then_some(()),
        )
    }

    /// Every context: host first, then members.
    pub fn contexts(&self) -> Vec<String> {
        std::iter::once(self.host.clone())
            .chain(self.members.iter().map(|m| m.context.clone()))
            .collect()
    }

    /// Deletes `namespace` on the host and every member and waits until it is gone everywhere.
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
                TIMEOUT,
                || {
                    let out = self.kubectl(&context, &["get", "namespace", namespace]);
                    (!out.success() && out.stderr.contains("NotFound")).then_some(())
                },
            )?;
        }
        Ok(())
    }

    /// A clean `namespace` on the host, federated to every member (leftovers of an earlier run
    /// removed first); waits until every member has it.
    pub fn fresh_federated_namespace(&self, namespace: &str) -> Result<()> {
        self.delete_namespace(namespace)?;
        self.apply(
            &self.host,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        )?;
        self.apply(
            &self.host,
            &json!({
                "apiVersion": "types.kubefed.io/v1beta1",
                "kind": "FederatedNamespace",
                "metadata": {"name": namespace, "namespace": namespace},
                "spec": {"placement": {"clusterSelector": {}}}
            }),
        )?;
        for member in &self.members {
            wait_for(
                &format!("namespace {namespace} in {}", member.name),
                TIMEOUT,
                || {
                    self.kubectl(&member.context, &["get", "namespace", namespace])
                        .success()
                        .then_some(())
                },
            )?;
        }
        Ok(())
    }

    /// The member by federation name.
    pub fn member(&self, name: &str) -> Result<&Member> {
        self.members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| HarnessError::new(format!("no member named {name}")))
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // The operator first, then the fleet it talks to.
        drop(self.operator.take());
        drop(self.sim.take());
        let _ = std::fs::remove_dir_all(&self.work_dir);
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
