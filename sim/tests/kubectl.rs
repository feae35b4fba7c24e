//! Runs the real `kubectl` against the HTTP transport.

use std::path::{Path, PathBuf};

use kubefed_sim::Cluster;

struct Kubectl {
    kubeconfig: PathBuf,
    _dir: TempDir,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("kubefed-sim-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Kubectl {
    async fn new(cluster: &Cluster, tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let kubeconfig = dir.0.join("kubeconfig");
        cluster
            .write_kubeconfig(&kubeconfig)
            .await
            .expect("write kubeconfig");
        Kubectl {
            kubeconfig,
            _dir: dir,
        }
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.kubeconfig.parent().expect("dir").join(name);
        std::fs::write(&p, content).expect("write manifest");
        p
    }

    /// Runs kubectl and returns stdout, panicking with stderr on failure.
    async fn run(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.try_run(args).await;
        assert!(ok, "kubectl {args:?} failed:\nstdout: {out}\nstderr: {err}");
        out
    }

    async fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env(
                "HOME",
                self.kubeconfig.parent().unwrap_or(Path::new("/tmp")),
            )
            .output()
            .await
            .unwrap_or_else(|e| {
                panic!("the kubectl binary must be on PATH for this test (running it failed: {e})")
            });
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
    - name: v1
      served: true
      storage: true
      subresources:
        status: {}
      additionalPrinterColumns:
        - name: Size
          type: integer
          jsonPath: .spec.size
        - name: Ready
          type: string
          jsonPath: .status.conditions[?(@.type=="Ready")].status
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;

const WIDGET: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  namespace: default
  labels:
    app: demo
spec:
  size: 3
  color: blue
"#;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: nginx
          image: nginx:1
        - name: sidecar
          image: sidecar:1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_end_to_end() {
    let cluster = Cluster::new("kubectl");
    let k = Kubectl::new(&cluster, "kubectl").await;

    let version = k.run(&["version", "-o", "json"]).await;
    assert!(version.contains("v1.33.0"), "{version}");

    let crd = k.file("crd.yaml", CRD);
    let out = k.run(&["apply", "-f", crd.to_str().unwrap()]).await;
    assert!(out.contains("widgets.example.com created"), "{out}");
    // As on a real server, the new resource is discovered only once the CRD is established.
    let out = k
        .run(&[
            "wait",
            "--for=condition=established",
            "--timeout=10s",
            "crd/widgets.example.com",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");

    let res = k.run(&["api-resources"]).await;
    assert!(
        res.lines()
            .any(|l| l.starts_with("widgets") && l.contains("wd") && l.contains("Widget")),
        "{res}"
    );
    assert!(
        res.lines()
            .any(|l| l.starts_with("deployments") && l.contains("deploy")),
        "{res}"
    );

    let widget = k.file("widget.yaml", WIDGET);
    let out = k.run(&["apply", "-f", widget.to_str().unwrap()]).await;
    assert!(out.contains("widget.example.com/w1 created"), "{out}");
    // Re-applying the same manifest changes nothing.
    let rv = cluster.resource_version();
    let out = k.run(&["apply", "-f", widget.to_str().unwrap()]).await;
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(cluster.resource_version(), rv);

    let got = k.run(&["get", "wd"]).await;
    assert!(
        got.contains("NAME") && got.contains("SIZE") && got.contains("w1") && got.contains('3'),
        "{got}"
    );
    let got = k
        .run(&["get", "widgets", "w1", "-o", "jsonpath={.spec.color}"])
        .await;
    assert_eq!(got, "blue");

    let out = k
        .run(&[
            "patch",
            "widget",
            "w1",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"color":"red"}}"#,
        ])
        .await;
    assert!(out.contains("patched"), "{out}");
    let got = k
        .run(&["get", "wd", "w1", "-o", "jsonpath={.spec.color}"])
        .await;
    assert_eq!(got, "red");

    // Client-side apply of a changed manifest keeps the patch-set field only where the
    // manifest does not say otherwise.
    let changed = WIDGET.replace("size: 3", "size: 5");
    let widget2 = k.file("widget2.yaml", &changed);
    k.run(&["apply", "-f", widget2.to_str().unwrap()]).await;
    let got = k
        .run(&[
            "get",
            "wd",
            "w1",
            "-o",
            "jsonpath={.spec.size}/{.spec.color}",
        ])
        .await;
    assert_eq!(got, "5/blue");

    // Server-side apply.
    let ssa = WIDGET.replace("w1", "w2");
    let ssa_file = k.file("w2.yaml", &ssa);
    let out = k
        .run(&["apply", "--server-side", "-f", ssa_file.to_str().unwrap()])
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let mf = k
        .run(&[
            "get",
            "wd",
            "w2",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[0].manager}",
        ])
        .await;
    assert_eq!(mf, "kubectl");

    // Built-in kinds: client-side apply and strategic merge patch through kubectl.
    let deploy = k.file("deploy.yaml", DEPLOYMENT);
    k.run(&["apply", "-f", deploy.to_str().unwrap()]).await;
    let out = k
        .run(&[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:2"}]}}}}"#,
        ])
        .await;
    assert!(out.contains("patched"), "{out}");
    let img = k
        .run(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].image}",
        ])
        .await;
    assert_eq!(img, "nginx:2 sidecar:1");
    k.run(&["scale", "deployment/web", "--replicas", "4"]).await;
    let r = k
        .run(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"])
        .await;
    assert_eq!(r, "4");
    let got = k.run(&["get", "deploy"]).await;
    assert!(got.contains("web"), "{got}");
    let cm = k.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\ndata:\n  a: b\n",
    );
    let out = k.run(&["apply", "-f", cm.to_str().unwrap()]).await;
    assert!(out.contains("created"), "{out}");
    // Typed commands send protobuf bodies.
    k.run(&["create", "namespace", "team"]).await;
    k.run(&[
        "-n",
        "team",
        "create",
        "configmap",
        "c2",
        "--from-literal",
        "x=y",
    ])
    .await;
    k.run(&[
        "-n",
        "team",
        "create",
        "secret",
        "generic",
        "s1",
        "--from-literal",
        "x=y",
    ])
    .await;
    k.run(&["-n", "team", "create", "serviceaccount", "robot"])
        .await;
    k.run(&[
        "-n",
        "team",
        "create",
        "deployment",
        "api",
        "--image",
        "api:1",
        "--replicas",
        "2",
    ])
    .await;
    let token = k.run(&["-n", "team", "create", "token", "robot"]).await;
    assert!(!token.trim().is_empty());
    let got = k
        .run(&["-n", "team", "get", "cm", "c2", "-o", "jsonpath={.data.x}"])
        .await;
    assert_eq!(got, "y");
    let got = k
        .run(&[
            "-n",
            "team",
            "get",
            "secret",
            "s1",
            "-o",
            "jsonpath={.data.x}",
        ])
        .await;
    assert_eq!(got, "eQ==");
    let got = k
        .run(&[
            "-n",
            "team",
            "get",
            "deploy",
            "api",
            "-o",
            "jsonpath={.spec.replicas}/{.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(got, "2/api:1");
    let out = k.run(&["delete", "namespace", "team"]).await;
    assert!(out.contains("deleted"), "{out}");
    let (ok, _, _) = k.try_run(&["get", "namespace", "team"]).await;
    assert!(!ok, "namespace removed with its content");

    let got = k.run(&["get", "cm", "-l", "missing", "-o", "name"]).await;
    assert_eq!(got.trim(), "");

    let out = k.run(&["delete", "widget", "w1"]).await;
    assert!(out.contains("deleted"), "{out}");
    let (ok, _, err) = k.try_run(&["get", "wd", "w1"]).await;
    assert!(
        !ok && err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );

    let out = k.run(&["delete", "-f", crd.to_str().unwrap()]).await;
    assert!(out.contains("deleted"), "{out}");
    let (ok, _, err) = k.try_run(&["get", "widgets"]).await;
    assert!(!ok, "{err}");
}

const CRD_AND_WIDGET: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g1, namespace: default}
spec: {size: 1}
"#;

/// As on a real server: one `kubectl apply` of a CRD and its custom resources creates the CRD
/// but cannot map the custom resource, whose kind is not discovered before establishment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_of_a_crd_and_its_resources_in_one_call_fails_until_established() {
    let cluster = Cluster::new("crd-race");
    let k = Kubectl::new(&cluster, "crd-race").await;
    let both = k.file("both.yaml", CRD_AND_WIDGET);
    let (ok, out, err) = k.try_run(&["apply", "-f", both.to_str().unwrap()]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("gadgets.example.com created"), "{out}");
    assert!(
        err.contains(r#"no matches for kind "Gadget" in version "example.com/v1""#)
            && err.contains("ensure CRDs are installed first"),
        "{err}"
    );
    k.run(&[
        "wait",
        "--for=condition=established",
        "--timeout=10s",
        "crd/gadgets.example.com",
    ])
    .await;
    let out = k.run(&["apply", "-f", both.to_str().unwrap()]).await;
    assert!(out.contains("gadget.example.com/g1 created"), "{out}");
}
