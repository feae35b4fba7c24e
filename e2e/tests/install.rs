//! The install as the README gives it, run against fresh simulated hosts with real `kubectl`,
//! and static checks of the image and manifests.
//!
//! What runs: the README blocks marked `<!-- install-check: … -->`, line by line, through
//! `sh`. What cannot run here is said where it is skipped: building, pushing and loading the
//! image (no container runtime), and `cargo install` (the binaries cargo test built are on
//! `PATH`). The simulator accepts the operator Deployment but runs no container, so in its place
//! the test starts the `kubefed-operator` binary with the Deployment's own arguments (as the
//! cluster holds them after the apply) and the token of the Deployment's ServiceAccount, which
//! checks those arguments and the RBAC of `config/rbac` against an RBAC-enforcing host.
//!
//! These tests always use their own simulated fleet, also when `KUBEFED_E2E_KUBECONFIG` names
//! real clusters: they install the federation from scratch, which a shared host must not see.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use kubefed::crds::manifests::DEFAULT_TYPE_CONFIGS_FILE;
use kubefed::crds::{all_crds, manifest_files};
use kubefed::plugin::federate::parse_documents;
use kubefed_e2e::harness::{
    Background, BareSim, FEDERATION_NAMESPACE, Output, Timeouts, binary, repo_root, run_in_repo,
    wait_for,
};
use serde_json::{Value, json};

const NS: &str = FEDERATION_NAMESPACE;

fn read(path: &str) -> String {
    let full = repo_root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn yaml_documents(path: &str) -> Vec<Value> {
    parse_documents(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn checked(out: Output, what: &str) -> Output {
    out.check(what).unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------------------
// The README blocks.

/// The command lines of the README's fenced block after `<!-- install-check: NAME -->`,
/// with `\` continuations joined.
fn readme_block(readme: &str, name: &str) -> Vec<String> {
    let marker = format!("<!-- install-check: {name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker}"))
        .1;
    let mut lines = after.lines().skip_while(|l| l.trim().is_empty());
    let fence = lines.next().unwrap_or_default();
    assert!(
        fence.starts_with("```"),
        "{marker} is not followed by a code block"
    );
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in lines.take_while(|l| !l.starts_with("```")) {
        let line = line.trim_end();
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            continue;
        }
        pending.push_str(line);
        if !pending.trim().is_empty() && !pending.trim_start().starts_with('#') {
            commands.push(pending.trim().to_string());
        }
        pending.clear();
    }
    assert!(!commands.is_empty(), "{marker}: empty block");
    commands
}

/// What the test does with one README command line.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Run it and expect success.
    Run(String),
    /// A process that keeps running (the operator on a workstation): start it.
    Background(String),
    /// Cannot run here, and why.
    NotRun(String, &'static str),
}

/// The command without a trailing `# comment`.
fn without_comment(line: &str) -> &str {
    line.split_once(" #")
        .map_or(line, |(command, _)| command)
        .trim_end()
}

fn classify(line: &str) -> Step {
    let command = without_comment(line).to_string();
    let mut words = command.split_whitespace();
    match (words.next(), words.next()) {
        (Some("cargo"), Some("install")) => Step::NotRun(
            command,
            "installs what cargo test has built; the built binaries are on PATH",
        ),
        (Some("make"), Some(target)) if target.starts_with("image") => {
            Step::NotRun(command, "needs a container engine, and none runs here")
        }
        (Some("docker" | "podman" | "kind" | "k3d"), _) => {
            Step::NotRun(command, "needs a container engine, and none runs here")
        }
        (Some("kubefed-operator"), Some("run")) => Step::Background(command),
        _ => Step::Run(command),
    }
}

#[test]
fn readme_lines_are_classified() {
    let cases = [
        ("cargo install --path . --bin kubectl-fed", "not run"),
        ("make image IMG=r/x:v1", "not run"),
        ("docker push r/x:v1", "not run"),
        (
            "kind load docker-image r/x:v1 --name host   # kind",
            "not run",
        ),
        ("make deploy IMG=r/x:v1", "run"),
        ("kubectl apply -k config/default", "run"),
        (
            "kubefed-operator run --context host     # keeps running",
            "background",
        ),
    ];
    for (line, expected) in cases {
        let got = match classify(line) {
            Step::Run(_) => "run",
            Step::Background(command) => {
                assert!(!command.contains('#'), "{command}");
                "background"
            }
            Step::NotRun(..) => "not run",
        };
        assert_eq!(got, expected, "{line}");
    }
    let readme = "x\n<!-- install-check: t -->\n\n```sh\n# comment\nkubectl get \\\n  ns\nkubectl version\n```\nkubectl nope\n";
    assert_eq!(
        readme_block(readme, "t"),
        ["kubectl get   ns", "kubectl version"]
    );
}

// ---------------------------------------------------------------------------------------------
// The operator in place of its pod.

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `GET <path>` on 127.0.0.1:`port`, the status code if anything answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// The operator, run as the Deployment's pod would run it.
struct Pod {
    process: Background,
    log: PathBuf,
}

impl Pod {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A kubeconfig for the host authenticating as `serviceaccount`, with a token the simulated
/// token controller issues, as the kubelet mounts one into the pod.
fn service_account_kubeconfig(sim: &BareSim, serviceaccount: &str) -> PathBuf {
    let secret = format!("{serviceaccount}-pod-token");
    checked(
        sim.kubectl(
            &["apply", "-f", "-"],
            Some(
                &json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": secret, "namespace": NS,
                                 "annotations": {"kubernetes.io/service-account.name": serviceaccount}},
                    "type": "kubernetes.io/service-account-token",
                })
                .to_string(),
            ),
        ),
        "creating the service-account token Secret",
    );
    let token = wait_for(
        "the token controller to fill the Secret",
        Timeouts::SIMULATED.wait,
        || {
            let secret = sim.get_json(&["secret", &secret, "-n", NS])?;
            let encoded = secret["data"]["token"].as_str()?.to_string();
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|t| String::from_utf8(t).ok())
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let path = sim.dir.join(format!("{serviceaccount}.kubeconfig"));
    std::fs::copy(&sim.kubeconfig, &path).expect("copy the kubeconfig");
    let cluster = checked(
        sim.kubectl(
            &[
                "config",
                "view",
                "-o",
                "jsonpath={.contexts[?(@.name==\"host\")].context.cluster}",
            ],
            None,
        ),
        "reading the host's cluster entry",
    )
    .stdout;
    let path_arg = path.display().to_string();
    for args in [
        vec![
            "config".to_string(),
            "set-credentials".to_string(),
            serviceaccount.to_string(),
            format!("--token={token}"),
        ],
        vec![
            "config".to_string(),
            "set-context".to_string(),
            "pod".to_string(),
            format!("--cluster={cluster}"),
            format!("--user={serviceaccount}"),
        ],
        vec![
            "config".to_string(),
            "use-context".to_string(),
            "pod".to_string(),
        ],
    ] {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["--kubeconfig", &path_arg]);
        checked(sim.kubectl(&all, None), "writing the pod's kubeconfig");
    }
    path
}

/// Starts the operator binary with the args of the Deployment the host now holds (probe and
/// metrics ports moved to free local ones), as its ServiceAccount, and waits until /readyz
/// answers 200, as the kubelet's readiness probe would.
fn start_operator_as_pod(sim: &BareSim, expected_image: Option<&str>) -> Pod {
    let deployment = sim
        .get_json(&["deployment", "kubefed-operator", "-n", NS])
        .expect("the operator Deployment on the host");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    if let Some(image) = expected_image {
        assert_eq!(container["image"], image, "the Deployment runs IMG");
    }
    assert!(container.get("command").is_none(), "{container}");
    let serviceaccount = pod["serviceAccountName"]
        .as_str()
        .expect("a ServiceAccount");
    let kubeconfig = service_account_kubeconfig(sim, serviceaccount);
    let probe_port = free_port();
    let mut args: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| {
            let arg = a.as_str().expect("string args");
            if arg.starts_with("--metrics-bind-address=") {
                format!("--metrics-bind-address=127.0.0.1:{}", free_port())
            } else if arg.starts_with("--health-probe-bind-address=") {
                format!("--health-probe-bind-address=127.0.0.1:{probe_port}")
            } else {
                arg.to_string()
            }
        })
        .collect();
    args.extend(["--kubeconfig".to_string(), kubeconfig.display().to_string()]);
    let operator = binary("kubefed-operator").unwrap_or_else(|e| panic!("{e}"));
    let mut command = vec![
        "POD_NAME=kubefed-operator-pod".to_string(),
        operator.display().to_string(),
    ];
    command.extend(args);
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    let log = sim.dir.join("pod.log");
    let mut process = Background::spawn(
        "the operator (as its pod)",
        Path::new("env"),
        &command,
        &log,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    wait_for("the operator's /readyz", Duration::from_secs(60), || {
        process.check_running().ok()?;
        (http_status(probe_port, "/readyz") == Some(200)).then_some(())
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    Pod { process, log }
}

// ---------------------------------------------------------------------------------------------
// The tests against the simulator.

fn type_config_names(sim: &BareSim) -> Vec<String> {
    sim.get_json(&["federatedtypeconfigs", "-n", NS])
        .and_then(|list| {
            list["items"].as_array().map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn assert_no_ordering_error(out: &Output) {
    for symptom in ["no matches for kind", "ensure CRDs are installed first"] {
        assert!(!out.stderr.contains(symptom), "{out}");
    }
}

/// Runs the steps of the README blocks; `after(line)` is called after each line that ran.
fn run_readme(sim: &BareSim, blocks: &[&str], mut after: impl FnMut(&str, &Output)) {
    let readme = read("README.md");
    for block in blocks {
        for line in readme_block(&readme, block) {
            match classify(&line) {
                Step::NotRun(command, why) => println!("[{block}] not run: {command} ({why})"),
                Step::Background(command) => panic!("[{block}] unexpected long-running {command}"),
                Step::Run(command) => {
                    println!("[{block}] $ {command}");
                    let out = sim.shell(&command);
                    assert!(out.success(), "[{block}] {command}: {out}");
                    after(&command, &out);
                }
            }
        }
    }
}

#[test]
fn custom_resources_in_one_apply_with_their_crd_are_refused() {
    // Why the default FederatedTypeConfigs are not in the manifests: like a real server, the
    // simulator serves a new CRD's kind only once it is established, so this fails. The CRD
    // stays installing for the whole test: with the default delay a slow kubectl (a loaded
    // machine) could see it established before it sends the custom resources.
    let sim =
        BareSim::start_with(0, &["--crd-establish-delay", "60m"]).unwrap_or_else(|e| panic!("{e}"));
    checked(
        sim.kubectl(&["create", "namespace", NS], None),
        "creating the namespace",
    );
    let out = sim.kubectl(
        &[
            "apply",
            "-f",
            "config/crd/core.kubefed.io_federatedtypeconfigs.yaml",
            "-f",
            &format!("config/crd/{DEFAULT_TYPE_CONFIGS_FILE}"),
        ],
        None,
    );
    assert!(!out.success(), "{out}");
    assert!(
        out.stderr.contains("ensure CRDs are installed first"),
        "{out}"
    );
}

#[test]
fn in_cluster_install_from_the_readme_then_join_and_federate() {
    let sim = BareSim::start(2).unwrap_or_else(|e| panic!("{e}"));

    // The kustomization in one apply on a fresh host: nothing in it waits for a CRD.
    let out = checked(
        sim.kubectl(&["apply", "-k", "config/default"], None),
        "kubectl apply -k config/default",
    );
    assert_no_ordering_error(&out);
    assert!(
        type_config_names(&sim).is_empty(),
        "no FederatedTypeConfig comes with the manifests"
    );

    let mut pod = None;
    run_readme(&sim, &["in-cluster", "use"], |command, out| {
        if command.starts_with("make deploy") {
            assert_no_ordering_error(out);
            let image = command
                .split_whitespace()
                .find_map(|w| w.strip_prefix("IMG="))
                .expect("make deploy IMG=…");
            pod = Some(start_operator_as_pod(&sim, Some(image)));
        }
        if command.contains("get federatedtypeconfigs") {
            let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
            assert_eq!(rows.len(), 10, "the ten default types: {out}");
        }
        if command == "kubectl fed status" {
            for member in ["cluster1", "cluster2"] {
                let row = out
                    .stdout
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(member))
                    .unwrap_or_else(|| panic!("no row for {member}: {out}"));
                assert_eq!(row.split_whitespace().nth(1), Some("True"), "{row}");
            }
        }
    });
    let mut pod = pod.expect("the README's in-cluster block deploys the operator");
    pod.process
        .check_running()
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", pod.log()));
    let mut names = type_config_names(&sim);
    names.sort();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.contains(&"deployments.apps".to_string()), "{names:?}");
    assert!(
        sim.get_json(&["kubefedconfig", "kubefed", "-n", NS])
            .is_some()
    );
    // config/rbac is enough for everything the operator did on the host.
    let log = pod.log();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the operator was refused something with the Deployment's ServiceAccount:\n{log}"
    );
}

#[test]
fn workstation_install_from_the_readme() {
    let sim = BareSim::start(1).unwrap_or_else(|e| panic!("{e}"));
    let readme = read("README.md");
    let mut operator = None;
    for line in readme_block(&readme, "workstation") {
        match classify(&line) {
            Step::NotRun(command, why) => println!("not run: {command} ({why})"),
            Step::Run(command) => {
                println!("$ {command}");
                checked(sim.shell(&command), &command);
            }
            Step::Background(command) => {
                // Its own ports, so that parallel tests do not collide on the defaults.
                let command = format!(
                    "exec {command} --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0"
                );
                println!("$ {command} &");
                let log = sim.dir.join("operator.log");
                let kubeconfig = format!("KUBECONFIG={}", sim.kubeconfig.display());
                let path = format!("PATH={}", sim.path_env);
                let args = [kubeconfig.as_str(), path.as_str(), "sh", "-c", &command];
                operator = Some((
                    Background::spawn("kubefed-operator", Path::new("env"), &args, &log)
                        .unwrap_or_else(|e| panic!("{e}")),
                    log,
                ));
            }
        }
    }
    let (mut operator, log) = operator.expect("the workstation block runs the operator");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for(
        "the ten default FederatedTypeConfigs",
        Duration::from_secs(60),
        || {
            operator.check_running().ok()?;
            (type_config_names(&sim).len() == 10).then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", log_text()));
    assert!(
        sim.get_json(&["kubefedconfig", "kubefed", "-n", NS])
            .is_some()
    );
}

/// SIGTERM (what a pod gets when it is stopped or rolled) makes a leader stop its controllers
/// and release the leader Lease, so a standby takes over without waiting for it to expire.
#[test]
fn a_leader_releases_its_lease_on_sigterm() {
    let sim = BareSim::start(0).unwrap_or_else(|e| panic!("{e}"));
    checked(sim.kubectl(&["create", "namespace", NS], None), "namespace");
    let operator_bin = binary("kubefed-operator").unwrap_or_else(|e| panic!("{e}"));
    let log = sim.dir.join("operator.log");
    let kubeconfig = format!("--kubeconfig={}", sim.kubeconfig.display());
    let args = [
        "run",
        kubeconfig.as_str(),
        "--leader-elect",
        "--leader-elect-identity=first",
        "--metrics-bind-address=127.0.0.1:0",
        "--health-probe-bind-address=127.0.0.1:0",
    ];
    let mut operator = Background::spawn("kubefed-operator", &operator_bin, &args, &log)
        .unwrap_or_else(|e| panic!("{e}"));
    let holder = || {
        sim.get_json(&["lease", "kubefed-operator", "-n", NS])
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
    };
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the Lease held by first", Duration::from_secs(60), || {
        operator.check_running().ok()?;
        (holder().as_deref() == Some("first")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", log_text()));
    // Dropping the process handle sends SIGTERM and waits for the process to exit.
    drop(operator);
    let after = holder();
    assert!(
        after.as_deref().is_none_or(str::is_empty),
        "the Lease is still held by {after:?} after the operator exited; log:\n{}",
        log_text()
    );
}

// ---------------------------------------------------------------------------------------------
// Static checks: the image and the manifests agree with each other and with the code.

/// One `FROM` stage of a Dockerfile: base image, `AS` name, and its instructions.
#[derive(Debug)]
struct Stage {
    base: String,
    name: Option<String>,
    instructions: Vec<(String, String)>,
}

impl Stage {
    fn all(&self, keyword: &str) -> Vec<&str> {
        self.instructions
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, rest)| rest.as_str())
            .collect()
    }
}

/// Splits a Dockerfile into stages (continuations joined, comments and parser directives
/// skipped).
fn dockerfile_stages(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => {
                pending.push_str(start);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                logical.push(std::mem::take(&mut pending));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_uppercase();
        let rest = rest.trim().to_string();
        if keyword == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                _ => None,
            };
            stages.push(Stage {
                base: words.first().unwrap_or(&"").to_string(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((keyword, rest));
        }
    }
    stages
}

#[test]
fn the_image_builds_the_binary_the_deployment_runs() {
    // Only the Dockerfile is checked here: this machine has no container engine, so the build
    // itself is not run by any test (`make image` does it where docker or podman runs).
    let dockerfile = read("Dockerfile");
    let stages = dockerfile_stages(&dockerfile);
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");
    let runtime = stages.last().expect("a runtime stage");
    let build = stages
        .iter()
        .find(|s| s.all("RUN").iter().any(|r| r.contains("cargo build")))
        .expect("a stage running cargo build");
    let build_name = build.name.as_deref().expect("the build stage is named");
    assert!(build.base.contains("rust"), "{}", build.base);
    assert!(
        !runtime.base.contains("rust"),
        "a small runtime: {}",
        runtime.base
    );
    let run = build
        .all("RUN")
        .into_iter()
        .find(|r| r.contains("cargo build"))
        .unwrap();
    for flag in [
        "--release",
        "--locked",
        "--bin kubefed-operator",
        "--bin kubefed-agent",
    ] {
        assert!(run.contains(flag), "cargo build {flag}: {run}");
    }
    // The built binary is put where the runtime stage copies it from.
    let built = run
        .split_whitespace()
        .skip_while(|w| *w != "target/release/kubefed-operator")
        .nth(1)
        .expect("the binary is installed out of the target cache");
    let copies = runtime.all("COPY");
    let copy = copies
        .iter()
        .find(|c| c.starts_with(&format!("--from={build_name} ")))
        .expect("the runtime copies from the build stage");
    let words: Vec<&str> = copy.split_whitespace().collect();
    assert_eq!(words.len(), 3, "{copy}");
    assert_eq!(words[1], built, "copies what was built");
    let installed = words[2];
    assert!(installed.ends_with("/kubefed-operator"), "{installed}");
    // Pull members run `kubefed-agent` (by name, from PATH) from the same image.
    assert!(
        copies.iter().any(|c| {
            c.starts_with(&format!("--from={build_name} "))
                && c.ends_with(" /usr/local/bin/kubefed-agent")
        }),
        "the image holds kubefed-agent on PATH: {copies:?}"
    );
    let entrypoint: Vec<String> =
        serde_json::from_str(runtime.all("ENTRYPOINT").last().expect("ENTRYPOINT"))
            .expect("ENTRYPOINT in exec form");
    assert_eq!(entrypoint, [installed]);
    let user = runtime.all("USER");
    let uid: u32 = user
        .last()
        .and_then(|u| u.split(':').next())
        .and_then(|u| u.parse().ok())
        .expect("a numeric USER, so runAsNonRoot can be verified");
    assert_ne!(uid, 0, "non-root");
    // The build's toolchain is at least the workspace's minimum.
    let cargo_toml = read("Cargo.toml");
    let minimum = cargo_toml
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("workspace rust-version");
    let version = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .expect("ARG RUST_VERSION");
    let numbers = |v: &str| -> Vec<u32> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    assert!(
        numbers(version) >= numbers(&minimum),
        "{version} < {minimum}"
    );
    assert!(
        cargo_toml.contains("name = \"kubefed-operator\""),
        "the binary exists"
    );
    assert!(
        read(".dockerignore").lines().any(|l| l.trim() == "target/"),
        "the build context leaves out target/"
    );

    // The Deployment runs that binary through the entrypoint, as that user, with `run`.
    let deployment = yaml_documents("config/manager/deployment.yaml").remove(0);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert!(container.get("command").is_none(), "the entrypoint runs");
    assert_eq!(container["args"][0], "run");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], uid);
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    // `make image` builds, and `make deploy` replaces, the image name the Deployment carries.
    let image = container["image"].as_str().expect("image");
    let makefile = read("Makefile");
    assert!(
        makefile.contains(&format!("IMG ?= {image}\n")),
        "Makefile IMG default"
    );
    assert!(
        makefile.contains(&format!("s|image: {image}|image: $(IMG)|")),
        "make deploy replaces the image"
    );
    assert!(makefile.contains("build -f Dockerfile -t $(IMG) ."));
}

#[test]
fn the_kustomization_holds_the_crds_and_no_custom_resource() {
    let listed: Vec<String> = yaml_documents("config/crd/kustomization.yaml")[0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().unwrap_or_default().to_string())
        .collect();
    let generated: Vec<String> = manifest_files(NS)
        .expect("manifests")
        .into_iter()
        .map(|f| f.file_name)
        .filter(|f| f != DEFAULT_TYPE_CONFIGS_FILE)
        .collect();
    assert_eq!(
        listed, generated,
        "config/crd/kustomization.yaml is stale; run `make manifests`"
    );

    let out = checked(
        run_in_repo("kubectl", &["kustomize", "config/default"]),
        "kubectl kustomize config/default",
    );
    let objects = parse_documents(&out.stdout).expect("YAML");
    let kinds: Vec<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    // The namespace first, then the CRDs: kubectl applies in this order.
    assert_eq!(kinds[0], ("Namespace".to_string(), NS.to_string()));
    let mut crds: Vec<&str> = kinds
        .iter()
        .filter(|(k, _)| k == "CustomResourceDefinition")
        .map(|(_, n)| n.as_str())
        .collect();
    crds.sort_unstable();
    let mut expected: Vec<String> = all_crds()
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    expected.sort();
    assert_eq!(crds, expected);
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
    ] {
        assert!(kinds.iter().any(|(k, _)| k == kind), "{kind}: {kinds:?}");
    }
    let custom: Vec<&(String, String)> = kinds
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "Namespace"
                    | "CustomResourceDefinition"
                    | "ServiceAccount"
                    | "ClusterRole"
                    | "ClusterRoleBinding"
                    | "Role"
                    | "RoleBinding"
                    | "Deployment"
            )
        })
        .collect();
    assert!(
        custom.is_empty(),
        "custom resources in one apply with their CRDs: {custom:?}"
    );

    // make deploy applies the same with IMG.
    let out = checked(
        run_in_repo(
            "make",
            &[
                "-s",
                "deploy-yaml",
                "IMG=registry.example.com/kubefed-operator:v9",
            ],
        ),
        "make deploy-yaml",
    );
    assert!(
        out.stdout
            .contains("image: registry.example.com/kubefed-operator:v9")
    );
    assert!(!out.stdout.contains("image: kubefed-operator:latest"));
}
