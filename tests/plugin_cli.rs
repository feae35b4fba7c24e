//! Runs the built `kubectl-fed` binary against simulated host and member clusters over HTTPS,
//! with a kubeconfig, as a user would.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use kubefed::crds::{all_crds, default_type_configs};
use kubefed_sim::{Cluster, Kubeconfig, KubeconfigEntry};
use serde_json::{Value, json};

const NS: &str = "kube-federation-system";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("kubectl-fed-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A host with the federation installed, one member, token controllers on both, and a
/// kubeconfig with contexts `host`, `member1` and `gone` (nothing listens there).
struct Fleet {
    host: Cluster,
    member: Cluster,
    host_client: Client,
    member_client: Client,
    dir: TempDir,
    kubeconfig: PathBuf,
    token_controllers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for controller in &self.token_controllers {
            controller.abort();
        }
    }
}

/// Waits until a CRD is established: only then do servers list it in discovery.
async fn established(crds: &Api<CustomResourceDefinition>, name: &str) {
    let wait = await_condition(crds.clone(), name, conditions::is_crd_established());
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("CRD {name} not established"))
        .unwrap();
}

/// Fills service-account token Secrets, as kube-controller-manager does.
fn token_controller(member: Client) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let secrets: Api<Secret> = Api::all(member.clone());
        loop {
            if let Ok(list) = secrets.list(&Default::default()).await {
                for secret in list.items {
                    let empty = secret
                        .data
                        .as_ref()
                        .is_none_or(|d| !d.contains_key("token"));
                    if secret.type_.as_deref() == Some("kubernetes.io/service-account-token")
                        && empty
                    {
                        let ns = secret.metadata.namespace.clone().unwrap_or_default();
                        let name = secret.metadata.name.clone().unwrap_or_default();
                        let patch = json!({"data": {
                            "token": "c2VjcmV0LXRva2Vu", // "secret-token"
                            "ca.crt": "c2EtY2E=",       // "sa-ca"
                        }});
                        let _ = Api::<Secret>::namespaced(member.clone(), &ns)
                            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

impl Fleet {
    async fn new(tag: &str) -> Self {
        Self::with_token_controller(tag, true).await
    }

    async fn with_token_controller(tag: &str, tokens: bool) -> Self {
        let host = Cluster::new("host");
        let member = Cluster::new("member1");
        let host_client = host.https_client().await.unwrap();
        let member_client = member.https_client().await.unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(host_client.clone());
        for crd in all_crds() {
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
        for crd in all_crds() {
            established(&crds, crd.metadata.name.as_deref().unwrap()).await;
        }
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(host_client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap(),
            )
            .await
            .unwrap();
        let configs: Api<kubefed::crds::FederatedTypeConfig> =
            Api::namespaced(host_client.clone(), NS);
        for config in default_type_configs(NS) {
            configs
                .create(&PostParams::default(), &config)
                .await
                .unwrap();
        }

        let mut kubeconfig = Kubeconfig::default();
        kubeconfig.push(host.kubeconfig_entry().await.unwrap());
        kubeconfig.push(member.kubeconfig_entry().await.unwrap());
        kubeconfig.push(KubeconfigEntry {
            name: "gone".into(),
            server: "https://127.0.0.1:1".into(),
            token: "t".into(),
            namespace: None,
            certificate_authority: None,
        });
        let dir = TempDir::new(tag);
        let path = dir.0.join("kubeconfig");
        kubeconfig.write(&path).unwrap();
        let token_controllers = if tokens {
            vec![
                token_controller(host_client.clone()),
                token_controller(member_client.clone()),
            ]
        } else {
            Vec::new()
        };
        Fleet {
            host,
            member,
            host_client,
            member_client,
            dir,
            kubeconfig: path,
            token_controllers,
        }
    }

    async fn fed(&self, args: &[&str]) -> Output {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.dir.0)
            .output()
            .await
            .unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and expects success.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.fed(args).await;
        assert_eq!(
            out.code, 0,
            "kubectl fed {args:?} failed\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Runs and expects a one-line `error: …` and a non-zero exit.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.fed(args).await;
        assert_ne!(
            out.code, 0,
            "kubectl fed {args:?} succeeded: {}",
            out.stdout
        );
        let last = out.stderr.lines().last().unwrap_or_default().to_string();
        assert!(last.starts_with("error: "), "stderr: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "stderr: {}", out.stderr);
        last
    }

    /// Creates `widgets.example.com` on the host and waits until it is established.
    async fn create_widget_crd(&self) {
        let crds: Api<CustomResourceDefinition> = Api::all(self.host_client.clone());
        crds.create(
            &PostParams::default(),
            &serde_json::from_str(WIDGET_CRD).unwrap(),
        )
        .await
        .unwrap();
        established(&crds, "widgets.example.com").await;
    }

    fn host_object(&self, group: &str, resource: &str, ns: &str, name: &str) -> Option<Value> {
        self.host.get_object(group, resource, ns, name)
    }

    fn member_object(&self, group: &str, resource: &str, ns: &str, name: &str) -> Option<Value> {
        self.member.get_object(group, resource, ns, name)
    }
}

const JOIN: [&str; 5] = [
    "join",
    "member1",
    "--cluster-context",
    "member1",
    "--host-cluster-context",
];

fn join_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = JOIN.to_vec();
    args.push("host");
    args.extend_from_slice(extra);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_twice_then_unjoin() {
    let fleet = Fleet::new("join").await;
    let out = fleet.fed(&join_args(&[])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("joined"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("KubeFedCluster kube-federation-system/member1 created")
    );

    let cluster = fleet
        .host_object("core.kubefed.io", "kubefedclusters", NS, "member1")
        .expect("KubeFedCluster");
    let endpoint = fleet.member.https_addr().unwrap();
    assert_eq!(
        cluster["spec"]["apiEndpoint"],
        format!("https://{endpoint}")
    );
    assert_eq!(cluster["spec"]["secretRef"]["name"], "member1-token");
    // The kubeconfig's CA wins over the token Secret's ca.crt.
    let ca =
        kubefed::plugin::kubeconfig::decode_base64(cluster["spec"]["caBundle"].as_str().unwrap())
            .unwrap();
    assert!(String::from_utf8(ca).unwrap().contains("BEGIN CERTIFICATE"));
    assert!(cluster["spec"].get("disabledTLSValidations").is_none());
    let secret = fleet
        .host_object("", "secrets", NS, "member1-token")
        .expect("host Secret");
    assert_eq!(secret["data"]["token"], "c2VjcmV0LXRva2Vu");

    assert!(fleet.member_object("", "namespaces", "", NS).is_some());
    assert!(
        fleet
            .member_object("", "serviceaccounts", NS, "member1-host")
            .is_some()
    );
    let role = fleet
        .member_object(
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
            "kubefed-controller-manager:member1-host",
        )
        .expect("ClusterRole");
    assert_eq!(role["rules"][0]["resources"], json!(["*"]));
    assert_eq!(role["rules"][1]["nonResourceURLs"], json!(["/healthz"]));
    let binding = fleet
        .member_object(
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            "",
            "kubefed-controller-manager:member1-host",
        )
        .expect("ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], "member1-host");

    // A second join writes nothing on either side.
    let (host_rv, member_rv) = (
        fleet.host.resource_version(),
        fleet.member.resource_version(),
    );
    let again = fleet.ok(&join_args(&[])).await;
    assert!(again.contains("nothing changed"), "{again}");
    assert_eq!(fleet.host.resource_version(), host_rv);
    assert_eq!(fleet.member.resource_version(), member_rv);

    // Drift on the registration is repaired, including options the kubeconfig no longer has.
    let clusters: Api<kubefed::crds::KubeFedCluster> =
        Api::namespaced(fleet.host_client.clone(), NS);
    clusters
        .patch(
            "member1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"disabledTLSValidations": ["*"], "proxyURL": "http://p:3128"}}),
            ),
        )
        .await
        .unwrap();
    let out = fleet.fed(&join_args(&[])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("KubeFedCluster kube-federation-system/member1 updated"),
        "{}",
        out.stderr
    );
    let cluster = fleet
        .host_object("core.kubefed.io", "kubefedclusters", NS, "member1")
        .unwrap();
    assert!(
        cluster["spec"].get("disabledTLSValidations").is_none(),
        "{cluster}"
    );
    assert!(cluster["spec"].get("proxyURL").is_none(), "{cluster}");

    // --error-on-existing refuses.
    let err = fleet.fails(&join_args(&["--error-on-existing"])).await;
    assert!(err.contains("already joined"), "{err}");

    // The member shows up in status.
    let table = fleet.ok(&["status"]).await;
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.lines().nth(1).unwrap().starts_with("member1 "),
        "{table}"
    );

    let out = fleet
        .ok(&["unjoin", "member1", "--cluster-context", "member1"])
        .await;
    assert!(out.contains("unjoined"));
    assert!(
        fleet
            .host_object("core.kubefed.io", "kubefedclusters", NS, "member1")
            .is_none()
    );
    assert!(
        fleet
            .host_object("", "secrets", NS, "member1-token")
            .is_none()
    );
    assert!(
        fleet
            .member_object("", "serviceaccounts", NS, "member1-host")
            .is_none()
    );
    assert!(
        fleet
            .member_object("", "secrets", NS, "member1-host-token")
            .is_none()
    );
    assert!(
        fleet
            .member_object(
                "rbac.authorization.k8s.io",
                "clusterroles",
                "",
                "kubefed-controller-manager:member1-host"
            )
            .is_none()
    );
    let namespace = fleet.member_object("", "namespaces", "", NS);
    assert!(
        namespace.is_none_or(|ns| ns["metadata"].get("deletionTimestamp").is_some()),
        "member namespace still there"
    );
    // The host's own federation namespace is untouched.
    assert!(fleet.host_object("", "namespaces", "", NS).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_minimal_rbac_grants_only_enabled_types() {
    let fleet = Fleet::new("minimal").await;
    fleet.ok(&join_args(&["--rbac", "minimal"])).await;
    let role = fleet
        .member_object(
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
            "kubefed-controller-manager:member1-host",
        )
        .expect("ClusterRole");
    let rules = role["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["apiGroups"] == json!(["apps"])
        && r["resources"] == json!(["deployments", "replicasets"])));
    assert!(!rules.iter().any(|r| r["resources"] == json!(["*"])));
    assert_eq!(
        rules.last().unwrap()["nonResourceURLs"],
        json!(["/healthz", "/version"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_with_one_clear_line() {
    let fleet = Fleet::with_token_controller("bad", false).await;
    let err = fleet
        .fails(&["join", "member1", "--cluster-context", "nope"])
        .await;
    assert!(err.contains("context \"nope\" not found"), "{err}");
    assert!(err.contains("host, member1, gone"), "{err}");

    let err = fleet
        .fails(&[
            "join",
            "gone",
            "--cluster-context",
            "gone",
            "--host-cluster-context",
            "host",
        ])
        .await;
    assert!(
        err.contains("member (context gone)") || err.contains("gone"),
        "{err}"
    );
    assert!(
        fleet
            .host_object("core.kubefed.io", "kubefedclusters", NS, "gone")
            .is_none()
    );

    let err = fleet
        .fails(&["join", "Bad_Name", "--cluster-context", "member1"])
        .await;
    assert!(err.contains("not a valid name"), "{err}");

    let err = fleet.fails(&["enable", "gadgets"]).await;
    assert!(
        err.contains("doesn't have a resource type \"gadgets\""),
        "{err}"
    );

    // Without a token controller the wait times out and says how to clean up.
    let err = fleet.fails(&join_args(&["--token-timeout", "1"])).await;
    assert!(err.contains("timed out after 1s"), "{err}");
    assert!(err.contains("kubectl fed unjoin member1"), "{err}");

    // An unreachable member can still be unregistered with --force.
    let err = fleet
        .fails(&["unjoin", "gone", "--cluster-context", "gone"])
        .await;
    assert!(err.contains("--force"), "{err}");
    fleet
        .ok(&["unjoin", "gone", "--cluster-context", "gone", "--force"])
        .await;
}

const WIDGET_CRD: &str = r#"{
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {
    "group": "example.com",
    "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
    "versions": [{
      "name": "v1", "served": true, "storage": true,
      "subresources": {"scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
    }]
  }
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_and_disable_a_custom_type() {
    let fleet = Fleet::new("enable").await;
    fleet.create_widget_crd().await;

    let yaml = fleet.ok(&["enable", "wd", "-o", "yaml"]).await;
    assert!(yaml.contains("kind: CustomResourceDefinition"), "{yaml}");
    assert!(yaml.contains("kind: FederatedTypeConfig"), "{yaml}");
    assert!(
        fleet
            .host_object(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "",
                "federatedwidgets.types.kubefed.io"
            )
            .is_none(),
        "-o yaml must not apply"
    );

    fleet.ok(&["enable", "widgets.example.com"]).await;
    let crd = fleet
        .host_object(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
            "federatedwidgets.types.kubefed.io",
        )
        .expect("federated CRD");
    assert_eq!(crd["spec"]["names"]["kind"], "FederatedWidget");
    // enable returns once the server serves the new kind, so objects can be applied at once.
    assert!(
        crd["status"]["conditions"].as_array().is_some_and(|cs| cs
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")),
        "enable returned before the federated CRD was established: {crd}"
    );
    let config = fleet
        .host_object(
            "core.kubefed.io",
            "federatedtypeconfigs",
            NS,
            "widgets.example.com",
        )
        .expect("FTC");
    assert_eq!(config["spec"]["propagation"], "Enabled");
    assert_eq!(config["spec"]["federatedType"]["kind"], "FederatedWidget");

    // Idempotent.
    let rv = fleet.host.resource_version();
    fleet.ok(&["enable", "widget"]).await;
    assert_eq!(fleet.host.resource_version(), rv);

    fleet.ok(&["disable", "widgets.example.com"]).await;
    let config = fleet
        .host_object(
            "core.kubefed.io",
            "federatedtypeconfigs",
            NS,
            "widgets.example.com",
        )
        .unwrap();
    assert_eq!(config["spec"]["propagation"], "Disabled");

    fleet.ok(&["disable", "wd", "--delete-crd"]).await;
    assert!(
        fleet
            .host_object(
                "core.kubefed.io",
                "federatedtypeconfigs",
                NS,
                "widgets.example.com"
            )
            .is_none()
    );
    let crd = fleet.host_object(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "",
        "federatedwidgets.types.kubefed.io",
    );
    assert!(crd.is_none_or(|c| c["metadata"].get("deletionTimestamp").is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federate_orphaning_and_object_status() {
    let fleet = Fleet::new("federate").await;
    fleet
        .host
        .create_object(
            "",
            "v1",
            "namespaces",
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
        )
        .unwrap();
    fleet
        .host
        .create_object(
            "apps",
            "v1",
            "deployments",
            "demo",
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
            }),
        )
        .unwrap();

    let yaml = fleet
        .ok(&["federate", "deploy", "web", "-n", "demo", "-o", "yaml"])
        .await;
    assert!(yaml.contains("kind: FederatedDeployment"), "{yaml}");

    fleet
        .ok(&["federate", "deployment", "web", "-n", "demo"])
        .await;
    let federated = fleet
        .host_object("types.kubefed.io", "federateddeployments", "demo", "web")
        .expect("FederatedDeployment");
    assert_eq!(federated["spec"]["template"]["spec"]["replicas"], 2);
    assert_eq!(
        federated["spec"]["template"]["metadata"],
        json!({"labels": {"app": "web"}})
    );
    assert_eq!(
        federated["spec"]["placement"],
        json!({"clusterSelector": {"matchLabels": {}}})
    );
    let again = fleet
        .fed(&["federate", "deployment", "web", "-n", "demo"])
        .await;
    assert_eq!(again.code, 0);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    // Orphaning deletion round trip, naming the type in different ways.
    let status = fleet
        .ok(&[
            "orphaning-deletion",
            "status",
            "deployment",
            "web",
            "-n",
            "demo",
        ])
        .await;
    assert_eq!(status.trim(), "Disabled");
    fleet
        .ok(&[
            "orphaning-deletion",
            "enable",
            "FederatedDeployment",
            "web",
            "-n",
            "demo",
        ])
        .await;
    let federated = fleet
        .host_object("types.kubefed.io", "federateddeployments", "demo", "web")
        .unwrap();
    assert_eq!(
        federated["metadata"]["annotations"]["kubefed.io/orphan"],
        "true"
    );
    let status = fleet
        .ok(&[
            "orphaning-deletion",
            "status",
            "federateddeployments.types.kubefed.io",
            "web",
            "-n",
            "demo",
        ])
        .await;
    assert_eq!(status.trim(), "Enabled");
    fleet
        .ok(&[
            "orphaning-deletion",
            "disable",
            "fdeploy",
            "web",
            "-n",
            "demo",
        ])
        .await;
    let federated = fleet
        .host_object("types.kubefed.io", "federateddeployments", "demo", "web")
        .unwrap();
    assert!(
        federated["metadata"]
            .get("annotations")
            .and_then(|a| a.get("kubefed.io/orphan"))
            .is_none()
    );

    // Per-cluster status of the object, as the operator would have written it.
    let out = fleet
        .ok(&["status", "federateddeployment/web", "-n", "demo"])
        .await;
    assert!(out.contains("no status yet"), "{out}");
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
        fleet.host_client.clone(),
        "demo",
        &kube::discovery::ApiResource {
            group: "types.kubefed.io".into(),
            version: "v1beta1".into(),
            api_version: "types.kubefed.io/v1beta1".into(),
            kind: "FederatedDeployment".into(),
            plural: "federateddeployments".into(),
        },
    );
    api.patch_status(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "conditions": [{"type": "Propagation", "status": "True"}],
            "clusters": [{"name": "member1", "remoteStatus": {"replicas": 2, "readyReplicas": 1}},
                         {"name": "member2", "status": "ClusterNotReady"}],
        }})),
    )
    .await
    .unwrap();
    let out = fleet.ok(&["status", "deployment/web", "-n", "demo"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("CLUSTER"), "{out}");
    assert!(
        lines[1].starts_with("member1")
            && lines[1].contains("Propagated")
            && lines[1].ends_with("1/2"),
        "{out}"
    );
    assert!(lines[2].contains("ClusterNotReady"), "{out}");
    assert_eq!(lines[3], "Propagation: True");

    let err = fleet.fails(&["status", "configmap/x", "-n", "demo"]).await;
    assert!(
        err.contains("FederatedConfigMap") || err.contains("not found"),
        "{err}"
    );
    let _ = &fleet.member_client;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federate_a_file_offline_and_dry_run_changes_nothing() {
    let fleet = Fleet::new("file").await;
    let file = fleet.dir.0.join("app.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec:\n  clusterIP: 10.0.0.1\n  ports: [{port: 80, nodePort: 30080}]\n",
    )
    .unwrap();
    let out = fleet
        .ok(&["federate", "-f", file.to_str().unwrap(), "-o", "yaml"])
        .await;
    assert!(out.contains("kind: FederatedService"), "{out}");
    assert!(!out.contains("clusterIP"), "{out}");
    assert!(!out.contains("nodePort"), "{out}");

    let (host_rv, member_rv) = (
        fleet.host.resource_version(),
        fleet.member.resource_version(),
    );
    let plan = fleet
        .ok(&[
            "--dry-run",
            "join",
            "member1",
            "--cluster-context",
            "member1",
        ])
        .await;
    assert!(
        plan.lines().all(|l| l.starts_with("would ensure")),
        "{plan}"
    );
    fleet
        .ok(&["--dry-run", "enable", "roles.rbac.authorization.k8s.io"])
        .await;
    assert_eq!(fleet.host.resource_version(), host_rv);
    assert_eq!(fleet.member.resource_version(), member_rv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federate_a_namespace_with_its_contents() {
    let fleet = Fleet::new("contents").await;
    let host = &fleet.host;
    host.create_object(
        "",
        "v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    )
    .unwrap();
    host.create_object("", "v1", "configmaps", "shop", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"}, "data": {"k": "v"}}))
        .unwrap();
    // Like a real cluster, the simulator adds `kube-root-ca.crt` (and a `default`
    // ServiceAccount) to every namespace; neither may be federated.
    host.create_object("apps", "v1", "replicasets", "shop", json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "namespace": "shop",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u1"}]},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }))
    .unwrap();

    let out = fleet
        .ok(&["federate", "namespace", "shop", "--contents"])
        .await;
    assert!(out.contains("2 federated object(s) created"), "{out}");
    let namespace = fleet
        .host_object("types.kubefed.io", "federatednamespaces", "shop", "shop")
        .expect("FederatedNamespace");
    assert_eq!(
        namespace["spec"]["placement"]["clusterSelector"],
        json!({"matchLabels": {}})
    );
    let config = fleet
        .host_object(
            "types.kubefed.io",
            "federatedconfigmaps",
            "shop",
            "settings",
        )
        .expect("FederatedConfigMap");
    assert_eq!(config["spec"]["template"]["data"], json!({"k": "v"}));
    assert!(
        fleet
            .host_object(
                "types.kubefed.io",
                "federatedconfigmaps",
                "shop",
                "kube-root-ca.crt"
            )
            .is_none()
    );
    assert!(
        fleet
            .host_object("types.kubefed.io", "federatedreplicasets", "shop", "web-1")
            .is_none()
    );

    let err = fleet.fails(&["federate", "namespace", "kube-system"]).await;
    assert!(err.contains("never federated"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federate_with_enable_type_and_minimal_rbac_follows_enabled_types() {
    let fleet = Fleet::new("enable-type").await;
    fleet.create_widget_crd().await;
    fleet.ok(&join_args(&["--rbac", "minimal"])).await;
    fleet
        .host
        .create_object(
            "example.com",
            "v1",
            "widgets",
            "default",
            json!({
                "apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w1", "namespace": "default"}, "spec": {"size": 3},
            }),
        )
        .unwrap();

    let err = fleet.fails(&["federate", "widget", "w1"]).await;
    assert!(err.contains("kubectl fed enable"), "{err}");
    fleet
        .ok(&["federate", "widget", "w1", "--enable-type"])
        .await;
    let federated = fleet
        .host_object("types.kubefed.io", "federatedwidgets", "default", "w1")
        .expect("FederatedWidget");
    assert_eq!(federated["spec"]["template"]["spec"]["size"], 3);

    // Re-running join picks up the newly enabled type.
    let out = fleet.fed(&join_args(&["--rbac", "minimal"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("ClusterRole kubefed-controller-manager:member1-host updated"),
        "{}",
        out.stderr
    );
    let role = fleet
        .member_object(
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
            "kubefed-controller-manager:member1-host",
        )
        .unwrap();
    assert!(
        role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["apiGroups"] == json!(["example.com"]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_can_join_itself_and_keeps_its_namespace() {
    let fleet = Fleet::new("self").await;
    fleet
        .ok(&[
            "join",
            "hub",
            "--cluster-context",
            "host",
            "--host-cluster-context",
            "host",
        ])
        .await;
    let cluster = fleet
        .host_object("core.kubefed.io", "kubefedclusters", NS, "hub")
        .expect("KubeFedCluster");
    assert_eq!(cluster["spec"]["secretRef"]["name"], "hub-token");
    let out = fleet
        .fed(&[
            "unjoin",
            "hub",
            "--cluster-context",
            "host",
            "--host-cluster-context",
            "host",
        ])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("kept (the member is the host cluster)"),
        "{}",
        out.stderr
    );
    let namespace = fleet
        .host_object("", "namespaces", "", NS)
        .expect("namespace");
    assert!(namespace["metadata"].get("deletionTimestamp").is_none());
    assert!(
        fleet
            .host_object("core.kubefed.io", "kubefedclusters", NS, "hub")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_can_reach_a_joined_member() {
    use kubefed::members::connection::{ConnectionSpec, member_config};
    let fleet = Fleet::new("reach").await;
    fleet.ok(&join_args(&[])).await;
    // The token the simulated token controller issued authenticates the ServiceAccount.
    fleet.member.add_token(
        "secret-token",
        kubefed_sim::UserInfo {
            name: format!("system:serviceaccount:{NS}:member1-host"),
            groups: vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ],
        },
    );
    let cluster = Api::<kubefed::crds::KubeFedCluster>::namespaced(fleet.host_client.clone(), NS)
        .get("member1")
        .await
        .unwrap();
    let secret = Api::<Secret>::namespaced(fleet.host_client.clone(), NS)
        .get(&cluster.spec.secret_ref.name)
        .await
        .unwrap();
    let token = String::from_utf8(secret.data.unwrap()["token"].0.clone()).unwrap();
    let disabled: Vec<String> = Vec::new();
    let connection = member_config(&ConnectionSpec {
        api_endpoint: &cluster.spec.api_endpoint,
        ca_bundle: cluster.spec.ca_bundle.as_ref().map(|b| b.0.as_slice()),
        disabled_tls_validations: &disabled,
        proxy_url: cluster.spec.proxy_url.as_deref(),
        token: &token,
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    assert!(connection.tls.verify);
    // The operator's own client: its bounded HTTP stack, TLS checked against the caBundle.
    assert!(cluster.spec.api_endpoint.starts_with("https://"));
    let client = kubefed::members::connection::cluster_client(
        &cluster,
        &token,
        Duration::from_secs(5),
        kubefed::members::connection::DEFAULT_MEMBER_IN_FLIGHT,
    )
    .unwrap()
    .client;
    let version = client.apiserver_version().await.unwrap();
    assert!(version.git_version.starts_with('v'));
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    assert!(namespaces.get(NS).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_crd_waits_for_the_sync_controller_to_stop() {
    let fleet = Fleet::new("stop").await;
    let configs: Api<kubefed::crds::FederatedTypeConfig> =
        Api::namespaced(fleet.host_client.clone(), NS);
    let report = |running: bool, generation: i64| {
        json!({"status": {
            "observedGeneration": generation,
            "propagationController": if running { "Running" } else { "NotRunning" },
        }})
    };
    let generation = configs
        .get("configmaps")
        .await
        .unwrap()
        .metadata
        .generation
        .unwrap_or(1);
    configs
        .patch_status(
            "configmaps",
            &PatchParams::default(),
            &Patch::Merge(report(true, generation)),
        )
        .await
        .unwrap();

    let kubeconfig = fleet.kubeconfig.clone();
    let home = fleet.dir.0.clone();
    let disable = tokio::spawn(async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
            .args(["disable", "configmaps", "--delete-crd"])
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", home)
            .output()
            .await
            .unwrap()
    });
    // The operator notices the change and stops the controller a little later.
    let mut disabled_generation = None;
    for _ in 0..100 {
        let config = configs.get("configmaps").await.unwrap();
        if config.spec.propagation == kubefed::crds::ConfigurationMode::Disabled {
            disabled_generation = config.metadata.generation;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let disabled_generation = disabled_generation.expect("propagation disabled");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !disable.is_finished(),
        "the CRD must not be deleted while the controller runs"
    );
    assert!(
        fleet
            .host_object(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "",
                "federatedconfigmaps.types.kubefed.io"
            )
            .is_some()
    );
    configs
        .patch_status(
            "configmaps",
            &PatchParams::default(),
            &Patch::Merge(report(false, disabled_generation)),
        )
        .await
        .unwrap();
    let out = disable.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("waiting for the sync controller"));
    let crd = fleet.host_object(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "",
        "federatedconfigmaps.types.kubefed.io",
    );
    assert!(crd.is_none_or(|c| c["metadata"].get("deletionTimestamp").is_some()));
}

fn member_role(fleet: &Fleet) -> Value {
    fleet
        .member_object(
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
            "kubefed-controller-manager:member1-host",
        )
        .expect("ClusterRole")
}

fn annotation(object: &Value, key: &str) -> Option<String> {
    object["metadata"]["annotations"][key]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_members_are_named_by_enable_and_a_rejoin_grants_the_type() {
    let fleet = Fleet::new("grants").await;
    fleet.create_widget_crd().await;
    fleet.ok(&join_args(&["--rbac=minimal"])).await;

    // The grant is recorded, and covers escalation for the default ClusterRole type.
    let cluster = fleet
        .host_object("core.kubefed.io", "kubefedclusters", NS, "member1")
        .unwrap();
    assert_eq!(
        annotation(&cluster, "kubefed.io/rbac").as_deref(),
        Some("minimal")
    );
    let types = annotation(&cluster, "kubefed.io/rbac-types").unwrap();
    assert!(
        types.contains("deployments.apps")
            && types.contains("clusterroles.rbac.authorization.k8s.io"),
        "{types}"
    );
    assert!(!types.contains("widgets"), "{types}");
    let rules = member_role(&fleet)["rules"].as_array().unwrap().clone();
    assert!(
        rules.contains(&json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["escalate"]})),
        "{rules:?}"
    );

    // enable ends by naming the member and the command that fixes it.
    let out = fleet.ok(&["enable", "widgets.example.com"]).await;
    let last: Vec<&str> = out.trim_end().lines().rev().take(2).collect();
    assert_eq!(
        last,
        [
            "  kubectl fed join member1 --cluster-context member1 --host-cluster-context host --rbac minimal",
            "warning: joined with --rbac minimal and not granted widgets.example.com yet: member1. Grant it by re-running join:",
        ],
        "{out}"
    );

    // Re-running join keeps the recorded mode and says what it added.
    let out = fleet.fed(&join_args(&[])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("using --rbac minimal as recorded"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "ClusterRole kubefed-controller-manager:member1-host updated (+ widgets.example.com: create,delete,get,list,patch,update,watch)"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "KubeFedCluster kube-federation-system/member1 updated (kubefed.io/rbac: minimal)"
        ),
        "{}",
        out.stderr
    );
    let cluster = fleet
        .host_object("core.kubefed.io", "kubefedclusters", NS, "member1")
        .unwrap();
    assert!(
        annotation(&cluster, "kubefed.io/rbac-types")
            .unwrap()
            .contains("widgets.example.com")
    );
    // ... and a second run changes nothing.
    let rv = (
        fleet.host.resource_version(),
        fleet.member.resource_version(),
    );
    let again = fleet.ok(&join_args(&[])).await;
    assert!(again.contains("nothing changed"), "{again}");
    assert_eq!(
        (
            fleet.host.resource_version(),
            fleet.member.resource_version()
        ),
        rv
    );
    let out = fleet.ok(&["enable", "widgets.example.com"]).await;
    assert!(!out.contains("warning"), "{out}");

    // A full re-join drops the type list.
    fleet.ok(&join_args(&["--rbac", "full"])).await;
    let cluster = fleet
        .host_object("core.kubefed.io", "kubefedclusters", NS, "member1")
        .unwrap();
    assert_eq!(
        annotation(&cluster, "kubefed.io/rbac").as_deref(),
        Some("full")
    );
    assert_eq!(annotation(&cluster, "kubefed.io/rbac-types"), None);
    assert_eq!(member_role(&fleet)["rules"][0]["verbs"], json!(["*"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubefedctl_flags_work_against_a_cluster() {
    let fleet = Fleet::new("kubefedctl").await;
    fleet.create_widget_crd().await;
    // As KubeFed's deployment script joins.
    fleet
        .ok(&[
            "join",
            "member1",
            "--cluster-context=member1",
            "--host-cluster-context",
            "host",
            "--v=2",
            "--kubefed-namespace=kube-federation-system",
            "--error-on-existing=false",
        ])
        .await;
    let err = fleet.fails(&join_args(&["--error-on-existing=true"])).await;
    assert!(err.contains("already joined"), "{err}");

    // enable with a target version, and from an EnableTypeDirective file.
    let err = fleet.fails(&["enable", "widgets", "--version", "v9"]).await;
    assert!(
        err.contains("version \"v9\" of widgets.example.com is not served"),
        "{err}"
    );
    let directive = fleet.dir.0.join("widget.yaml");
    std::fs::write(
        &directive,
        "apiVersion: core.kubefed.io/v1beta1\nkind: EnableTypeDirective\nmetadata:\n  name: widgets.example.com\nspec:\n  targetVersion: v1\n",
    )
    .unwrap();
    let yaml = fleet
        .ok(&["enable", "-f", directive.to_str().unwrap(), "--output=yaml"])
        .await;
    assert!(
        yaml.contains("kind: FederatedTypeConfig") && yaml.contains("widgets.example.com"),
        "{yaml}"
    );
    fleet
        .ok(&["enable", "--filename", directive.to_str().unwrap()])
        .await;
    let config = fleet
        .host_object(
            "core.kubefed.io",
            "federatedtypeconfigs",
            NS,
            "widgets.example.com",
        )
        .expect("FTC from the directive");
    assert_eq!(config["spec"]["targetType"]["version"], "v1");

    // disable --delete-crd, then again once the FederatedTypeConfig is gone.
    fleet
        .ok(&["disable", "widgets.example.com", "--delete-crd=true"])
        .await;
    let out = fleet
        .ok(&[
            "disable",
            "widgets.example.com",
            "--delete-crd",
            "--federated-group",
            "types.kubefed.io",
            "--version=v1",
        ])
        .await;
    assert!(
        out.contains("CustomResourceDefinition federatedwidgets.types.kubefed.io"),
        "{out}"
    );
    let err = fleet
        .fails(&["disable", "configmaps", "--version", "v1"])
        .await;
    assert!(err.contains("only valid with --delete-crd"), "{err}");

    // federate -f converts without any cluster and prints YAML, as kubefedctl does.
    let file = fleet.dir.0.join("cm.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: demo}\ndata: {k: v}\n",
    )
    .unwrap();
    let rv = fleet.host.resource_version();
    let out = fleet
        .ok(&[
            "--kubeconfig",
            "/nonexistent",
            "federate",
            "--filename",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(out.contains("kind: FederatedConfigMap"), "{out}");
    assert_eq!(fleet.host.resource_version(), rv);
    let err = fleet
        .fails(&["federate", "cm", "c", "-n", "demo", "-t", "-o", "yaml"])
        .await;
    assert!(
        err.contains("--enable-type cannot be used with --output"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_types_a_member_cannot_serve() {
    let fleet = Fleet::new("types").await;
    fleet.ok(&join_args(&["--rbac", "minimal"])).await;
    let clusters: Api<kube::api::DynamicObject> = Api::namespaced_with(
        fleet.host_client.clone(),
        NS,
        &kube::core::ApiResource::erase::<kubefed::crds::KubeFedCluster>(&()),
    );
    // As the operator reports a member that refuses one type and does not serve another.
    clusters
        .patch_status(
            "member1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "ClusterReady",
                 "lastProbeTime": "2026-01-01T00:00:00Z"},
                {"type": "TypesAvailable", "status": "False", "reason": "TypesUnavailable",
                 "lastProbeTime": "2026-01-01T00:00:00Z",
                 "message": "cannot watch clusterrolebindings.rbac.authorization.k8s.io: forbidden; widgets.example.com: not served"},
            ]}})),
        )
        .await
        .unwrap();
    let out = fleet.ok(&["status"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "NAME", "READY", "OFFLINE", "TYPES", "RBAC", "VERSION", "AGE"
        ],
        "{out}"
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &row[..6],
        ["member1", "True", "Unknown", "2", "unavailable", "minimal"],
        "{out}"
    );
    assert!(out.contains("member1 cannot serve:\n  cannot watch clusterrolebindings.rbac.authorization.k8s.io: forbidden\n  widgets.example.com: not served"), "{out}");
    assert!(
        out.contains("kubectl fed join member1 --cluster-context member1 --host-cluster-context host --rbac minimal"),
        "{out}"
    );
}

/// Gone, or on its way (a namespace is finalized after its contents).
fn gone(object: Option<Value>) -> bool {
    object.is_none_or(|o| !o["metadata"]["deletionTimestamp"].is_null())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_pull_prints_or_installs_the_agent_and_unjoin_removes_both_sides() {
    let fleet = Fleet::new("join-pull").await;
    // -o yaml: the host side is created, the agent's manifests printed, the member untouched.
    let yaml = fleet
        .ok(&[
            "join",
            "edge",
            "--mode",
            "pull",
            "--host-cluster-context",
            "host",
            "-o",
            "yaml",
        ])
        .await;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"Deployment") && kinds.contains(&"Secret"),
        "{kinds:?}"
    );
    let cluster = fleet
        .host_object("core.kubefed.io", "kubefedclusters", NS, "edge")
        .expect("KubeFedCluster");
    assert_eq!(
        cluster["metadata"]["annotations"]["kubefed.io/mode"],
        "pull"
    );
    assert_eq!(cluster["spec"]["apiEndpoint"], "pull://edge");
    assert!(fleet.host_object("", "secrets", NS, "edge-token").is_none());
    assert!(
        fleet
            .host_object(
                "rbac.authorization.k8s.io",
                "roles",
                "kubefed-cluster-edge",
                "kubefed-agent"
            )
            .is_some()
    );
    assert!(
        fleet
            .member_object("", "namespaces", "", "kubefed-agent")
            .is_none()
    );

    // --cluster-context installs the agent in the member.
    fleet
        .ok(&[
            "join",
            "member1",
            "--mode",
            "pull",
            "--cluster-context",
            "member1",
            "--host-cluster-context",
            "host",
        ])
        .await;
    assert!(
        fleet
            .member_object("apps", "deployments", "kubefed-agent", "kubefed-agent")
            .is_some()
    );

    // unjoin removes the host side and, with the member context, the agent.
    fleet
        .ok(&[
            "unjoin",
            "member1",
            "--cluster-context",
            "member1",
            "--host-cluster-context",
            "host",
        ])
        .await;
    assert!(
        fleet
            .host_object("core.kubefed.io", "kubefedclusters", NS, "member1")
            .is_none()
    );
    assert!(gone(fleet.host_object(
        "",
        "namespaces",
        "",
        "kubefed-cluster-member1"
    )));
    assert!(gone(fleet.member_object(
        "",
        "namespaces",
        "",
        "kubefed-agent"
    )));
    assert!(
        fleet
            .member_object(
                "rbac.authorization.k8s.io",
                "clusterroles",
                "",
                "kubefed-agent"
            )
            .is_none()
    );
}
