//! kubefedctl command lines, as its user guide, cluster registration guide, `--help` examples
//! and deployment scripts write them, parsed by `kubectl fed` with every value checked; then
//! every boolean flag in each of Go pflag's forms.

use kubefed::plugin::orphaning::OrphaningAction;
use kubefed::plugin::rbac::RbacMode;
use kubefed::plugin::{Cli, Command, OutputFormat, parse_from};

/// Splits a command line as a POSIX shell would for these lines: blanks separate words,
/// single and double quotes group them.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    let mut in_word = false;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// Parses a kubefedctl command line as `kubectl fed` (the program name is replaced).
fn parse(line: &str) -> Result<Cli, String> {
    let mut argv = words(line);
    assert_eq!(argv[0], "kubefedctl", "{line}");
    argv[0] = "kubectl-fed".to_string();
    parse_from(argv).map_err(|e| e.to_string())
}

fn ok(line: &str) -> Cli {
    parse(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// The parts of a parsed command line the table checks, flattened for comparison.
#[derive(Debug, PartialEq, Eq, Default)]
struct Parsed {
    command: &'static str,
    /// Positional arguments.
    args: Vec<String>,
    host_context: Option<String>,
    kubefed_namespace: String,
    dry_run: bool,
    verbosity: u8,
    /// `--flag` values of the subcommand, as `name=value`.
    flags: Vec<String>,
}

fn flat(cli: Cli) -> Parsed {
    let global = cli.global;
    let mut parsed = Parsed {
        host_context: global.host_cluster_context,
        kubefed_namespace: global.kubefed_namespace,
        dry_run: global.dry_run,
        verbosity: global.verbosity,
        ..Default::default()
    };
    let opt = |name: &str, value: &Option<String>| value.as_ref().map(|v| format!("{name}={v}"));
    match cli.command {
        Command::Join(a) => {
            parsed.command = "join";
            parsed.args = vec![a.cluster];
            parsed.flags = [
                opt("cluster-context", &a.cluster_context),
                opt("host-cluster-name", &a.host_cluster_name),
                opt("secret-name", &a.secret_name),
                Some(format!("error-on-existing={}", a.error_on_existing)),
                a.rbac.map(|r| format!("rbac={}", r.as_str())),
            ]
            .into_iter()
            .flatten()
            .collect();
        }
        Command::Unjoin(a) => {
            parsed.command = "unjoin";
            parsed.args = vec![a.cluster];
            parsed.flags = [
                opt("cluster-context", &a.cluster_context),
                opt("host-cluster-name", &a.host_cluster_name),
                Some(format!("force={}", a.force)),
            ]
            .into_iter()
            .flatten()
            .collect();
        }
        Command::Enable(a) => {
            parsed.command = "enable";
            parsed.args = a.type_name.into_iter().collect();
            parsed.flags = [
                opt("version", &a.target_version),
                Some(format!("federated-group={}", a.api.federated_group)),
                Some(format!("federated-version={}", a.api.federated_version)),
                a.output.map(|o| {
                    assert_eq!(o, OutputFormat::Yaml);
                    "output=yaml".to_string()
                }),
                opt("filename", &a.filename),
            ]
            .into_iter()
            .flatten()
            .collect();
        }
        Command::Disable(a) => {
            parsed.command = "disable";
            parsed.args = vec![a.type_name];
            parsed.flags = [
                Some(format!("delete-crd={}", a.delete_crd)),
                Some(format!("federated-group={}", a.federated_group)),
                opt("version", &a.target_version),
            ]
            .into_iter()
            .flatten()
            .collect();
        }
        Command::Federate(a) => {
            parsed.command = "federate";
            parsed.args = a.type_name.into_iter().chain(a.name).collect();
            parsed.flags = [
                opt("namespace", &a.namespace),
                Some(format!("contents={}", a.contents)),
                Some(format!("enable-type={}", a.enable_type)),
                (!a.skip_api_resources.is_empty())
                    .then(|| format!("skip-api-resources={}", a.skip_api_resources.join("|"))),
                a.output.map(|_| "output=yaml".to_string()),
                opt("filename", &a.filename),
            ]
            .into_iter()
            .flatten()
            .collect();
        }
        Command::OrphaningDeletion(a) => {
            parsed.command = "orphaning-deletion";
            let action = match a.action {
                OrphaningAction::Enable => "enable",
                OrphaningAction::Disable => "disable",
                OrphaningAction::Status => "status",
            };
            parsed.args = vec![action.to_string(), a.kind, a.name];
            parsed.flags = opt("namespace", &a.namespace).into_iter().collect();
        }
        Command::Status(_) => parsed.command = "status",
        Command::Pause(_) => parsed.command = "pause",
        Command::Resume(_) => parsed.command = "resume",
        Command::Preview(_) => parsed.command = "preview",
        Command::Version => parsed.command = "version",
    }
    parsed
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const NS: &str = "kube-federation-system";

fn expect(
    command: &'static str,
    args: &[&str],
    host: Option<&str>,
    namespace: &str,
    verbosity: u8,
    flags: &[&str],
) -> Parsed {
    Parsed {
        command,
        args: strings(args),
        host_context: host.map(str::to_string),
        kubefed_namespace: namespace.to_string(),
        dry_run: false,
        verbosity,
        flags: strings(flags),
    }
}

const DEFAULT_TYPES: [&str; 2] = [
    "federated-group=types.kubefed.io",
    "federated-version=v1beta1",
];

#[test]
fn kubefedctl_documented_command_lines() {
    let none: &[&str] = &[];
    let table: Vec<(&str, Parsed)> = vec![
        // Cluster registration guide.
        (
            "kubefedctl join cluster1 --cluster-context cluster1 --host-cluster-context cluster1 --v=2",
            expect(
                "join",
                &["cluster1"],
                Some("cluster1"),
                NS,
                2,
                &["cluster-context=cluster1", "error-on-existing=false"],
            ),
        ),
        (
            "kubefedctl unjoin cluster2 --cluster-context cluster2 --host-cluster-context cluster1 --v=2",
            expect(
                "unjoin",
                &["cluster2"],
                Some("cluster1"),
                NS,
                2,
                &["cluster-context=cluster2", "force=false"],
            ),
        ),
        (
            "kubefedctl join mycluster --cluster-context mycluster --host-cluster-context mycluster --v=2 --kubefed-namespace=test-namespace",
            expect(
                "join",
                &["mycluster"],
                Some("mycluster"),
                "test-namespace",
                2,
                &["cluster-context=mycluster", "error-on-existing=false"],
            ),
        ),
        // `--help` examples of join and unjoin.
        (
            "kubefedctl join foo --host-cluster-context=bar",
            expect(
                "join",
                &["foo"],
                Some("bar"),
                NS,
                0,
                &["error-on-existing=false"],
            ),
        ),
        (
            "kubefedctl unjoin foo --host-cluster-context=bar",
            expect("unjoin", &["foo"], Some("bar"), NS, 0, &["force=false"]),
        ),
        // KubeFed's deployment and teardown scripts.
        (
            "kubefedctl join cluster2 --host-cluster-context cluster1 --v=2 --kubefed-namespace=kube-federation-system --error-on-existing=false",
            expect(
                "join",
                &["cluster2"],
                Some("cluster1"),
                NS,
                2,
                &["error-on-existing=false"],
            ),
        ),
        (
            "kubefedctl unjoin cluster2 --host-cluster-context cluster1 --v=2 --kubefed-namespace=fed-ns",
            expect(
                "unjoin",
                &["cluster2"],
                Some("cluster1"),
                "fed-ns",
                2,
                &["force=false"],
            ),
        ),
        (
            "kubefedctl federate ns test-ns --contents --skip-api-resources 'pods,secrets,serviceaccounts,replicasets,endpointslices'",
            expect(
                "federate",
                &["ns", "test-ns"],
                None,
                NS,
                0,
                &[
                    "contents=true",
                    "enable-type=false",
                    "skip-api-resources=pods|secrets|serviceaccounts|replicasets|endpointslices",
                ],
            ),
        ),
        // User guide: enabling and disabling types.
        (
            "kubefedctl enable customresourcedefinitions",
            expect(
                "enable",
                &["customresourcedefinitions"],
                None,
                NS,
                0,
                &DEFAULT_TYPES,
            ),
        ),
        (
            "kubefedctl federate crd mytype.mygroup.mydomain.io",
            expect(
                "federate",
                &["crd", "mytype.mygroup.mydomain.io"],
                None,
                NS,
                0,
                &["contents=false", "enable-type=false"],
            ),
        ),
        (
            "kubefedctl enable deployments.apps --output=yaml",
            expect(
                "enable",
                &["deployments.apps"],
                None,
                NS,
                0,
                &[DEFAULT_TYPES[0], DEFAULT_TYPES[1], "output=yaml"],
            ),
        ),
        (
            "kubefedctl enable deployments.example.com --federated-group kubefed.example.com",
            expect(
                "enable",
                &["deployments.example.com"],
                None,
                NS,
                0,
                &[
                    "federated-group=kubefed.example.com",
                    "federated-version=v1beta1",
                ],
            ),
        ),
        (
            "kubefedctl enable deployments.apps --host-cluster-context=cluster1",
            expect(
                "enable",
                &["deployments.apps"],
                Some("cluster1"),
                NS,
                0,
                &DEFAULT_TYPES,
            ),
        ),
        (
            "kubefedctl enable -f deployment.yaml",
            expect(
                "enable",
                none,
                None,
                NS,
                0,
                &[
                    DEFAULT_TYPES[0],
                    DEFAULT_TYPES[1],
                    "filename=deployment.yaml",
                ],
            ),
        ),
        (
            "kubefedctl disable deployments.apps",
            expect(
                "disable",
                &["deployments.apps"],
                None,
                NS,
                0,
                &["delete-crd=false", "federated-group=types.kubefed.io"],
            ),
        ),
        (
            "kubefedctl disable deployments.apps --delete-crd",
            expect(
                "disable",
                &["deployments.apps"],
                None,
                NS,
                0,
                &["delete-crd=true", "federated-group=types.kubefed.io"],
            ),
        ),
        // User guide: federating resources.
        (
            "kubefedctl federate configmaps my-configmap -n my-namespace",
            expect(
                "federate",
                &["configmaps", "my-configmap"],
                None,
                NS,
                0,
                &[
                    "namespace=my-namespace",
                    "contents=false",
                    "enable-type=false",
                ],
            ),
        ),
        (
            "kubefedctl federate namespace my-namespace --contents --skip-api-resources \"configmaps,apps\"",
            expect(
                "federate",
                &["namespace", "my-namespace"],
                None,
                NS,
                0,
                &[
                    "contents=true",
                    "enable-type=false",
                    "skip-api-resources=configmaps|apps",
                ],
            ),
        ),
        (
            "kubefedctl federate configmap my-configmap --enable-type",
            expect(
                "federate",
                &["configmap", "my-configmap"],
                None,
                NS,
                0,
                &["contents=false", "enable-type=true"],
            ),
        ),
        (
            "kubefedctl federate --filename ./my-file",
            expect(
                "federate",
                none,
                None,
                NS,
                0,
                &["contents=false", "enable-type=false", "filename=./my-file"],
            ),
        ),
        (
            "kubefedctl federate cm \"my-cm\" -n \"my-ns\" --host-cluster-context=cluster1",
            expect(
                "federate",
                &["cm", "my-cm"],
                Some("cluster1"),
                NS,
                0,
                &["namespace=my-ns", "contents=false", "enable-type=false"],
            ),
        ),
        // User guide: deletion policy.
        (
            "kubefedctl orphaning-deletion enable FederatedDeployment foo",
            expect(
                "orphaning-deletion",
                &["enable", "FederatedDeployment", "foo"],
                None,
                NS,
                0,
                none,
            ),
        ),
        (
            "kubefedctl orphaning-deletion status FederatedDeployment foo -n my-ns",
            expect(
                "orphaning-deletion",
                &["status", "FederatedDeployment", "foo"],
                None,
                NS,
                0,
                &["namespace=my-ns"],
            ),
        ),
        (
            "kubefedctl orphaning-deletion disable FederatedDeployment foo --host-cluster-context=cluster1",
            expect(
                "orphaning-deletion",
                &["disable", "FederatedDeployment", "foo"],
                Some("cluster1"),
                NS,
                0,
                none,
            ),
        ),
    ];
    for (line, expected) in table {
        assert_eq!(flat(ok(line)), expected, "{line}");
    }
}

#[test]
fn every_kubefedctl_flag_in_its_name_and_value_forms() {
    // Separate and `=` values, short and long names, all in one line per command.
    let join = flat(ok(
        "kubefedctl join c1 --kubeconfig=/k --host-cluster-context h --kubefed-namespace fed --dry-run \
         --cluster-context=m1 --host-cluster-name hub --secret-name=s1 --error-on-existing",
    ));
    assert_eq!(
        join,
        Parsed {
            dry_run: true,
            ..expect(
                "join",
                &["c1"],
                Some("h"),
                "fed",
                0,
                &[
                    "cluster-context=m1",
                    "host-cluster-name=hub",
                    "secret-name=s1",
                    "error-on-existing=true",
                ],
            )
        }
    );
    let cli = ok("kubefedctl join c1 --kubeconfig /a/b --rbac=minimal");
    assert_eq!(cli.global.kubeconfig.as_deref(), Some("/a/b"));
    assert!(matches!(cli.command, Command::Join(a) if a.rbac == Some(RbacMode::Minimal)));

    let unjoin = flat(ok(
        "kubefedctl unjoin c1 --cluster-context m1 --host-cluster-name=hub --force=true",
    ));
    assert_eq!(
        unjoin.flags,
        strings(&["cluster-context=m1", "host-cluster-name=hub", "force=true"])
    );

    let enable = flat(ok(
        "kubefedctl enable widgets.example.com --version=v1beta1 --federated-group g.example.com --federated-version=v2 -o yaml",
    ));
    assert_eq!(
        enable.flags,
        strings(&[
            "version=v1beta1",
            "federated-group=g.example.com",
            "federated-version=v2",
            "output=yaml",
        ])
    );
    let enable = flat(ok("kubefedctl enable --filename=d.yaml --output yaml"));
    assert_eq!(enable.args, Vec::<String>::new());
    assert!(enable.flags.contains(&"filename=d.yaml".to_string()));
    assert!(enable.flags.contains(&"output=yaml".to_string()));

    let disable = flat(ok(
        "kubefedctl disable widgets.example.com --delete-crd=true --federated-group=g.example.com --version v1",
    ));
    assert_eq!(
        disable.flags,
        strings(&[
            "delete-crd=true",
            "federated-group=g.example.com",
            "version=v1"
        ])
    );

    let federate = flat(ok(
        "kubefedctl federate ns shop -c -t -s configmaps -s apps,batch --namespace=ignored --output=yaml",
    ));
    assert_eq!(
        federate.flags,
        strings(&[
            "namespace=ignored",
            "contents=true",
            "enable-type=true",
            "skip-api-resources=configmaps|apps|batch",
            "output=yaml",
        ])
    );
    let federate = flat(ok("kubefedctl federate -f - -o=yaml"));
    assert!(federate.flags.contains(&"filename=-".to_string()));

    let orphaning = flat(ok(
        "kubefedctl orphaning-deletion status fdeploy web --namespace demo --kubefed-namespace=fed --dry-run",
    ));
    assert_eq!(orphaning.flags, strings(&["namespace=demo"]));
    assert_eq!(orphaning.kubefed_namespace, "fed");
    assert!(orphaning.dry_run);

    // klog's verbosity in every pflag spelling.
    for line in [
        "kubefedctl join c1 --v=3",
        "kubefedctl join c1 --v 3",
        "kubefedctl join c1 -v 3",
        "kubefedctl join c1 -v=3",
        "kubefedctl join c1 -v3",
    ] {
        assert_eq!(flat(ok(line)).verbosity, 3, "{line}");
    }
    // `_` for `-` in flag names, as kubefedctl normalized them.
    let underscores = flat(ok(
        "kubefedctl join c1 --host_cluster_context=h --cluster_context m --error_on_existing=true",
    ));
    assert_eq!(underscores.host_context.as_deref(), Some("h"));
    assert_eq!(
        underscores.flags,
        strings(&["cluster-context=m", "error-on-existing=true"])
    );
}

/// `(command line prefix, flag, how to read it back)` for every boolean flag.
type BoolFlag = (&'static str, &'static str, fn(Cli) -> bool);

fn bool_flags() -> Vec<BoolFlag> {
    vec![
        (
            "kubefedctl join c1",
            "--error-on-existing",
            |c| matches!(c.command, Command::Join(a) if a.error_on_existing),
        ),
        (
            "kubefedctl unjoin c1",
            "--force",
            |c| matches!(c.command, Command::Unjoin(a) if a.force),
        ),
        (
            "kubefedctl disable deployments.apps",
            "--delete-crd",
            |c| matches!(c.command, Command::Disable(a) if a.delete_crd),
        ),
        (
            "kubefedctl federate ns shop",
            "--contents",
            |c| matches!(c.command, Command::Federate(a) if a.contents),
        ),
        (
            "kubefedctl federate ns shop",
            "-c",
            |c| matches!(c.command, Command::Federate(a) if a.contents),
        ),
        (
            "kubefedctl federate cm x",
            "--enable-type",
            |c| matches!(c.command, Command::Federate(a) if a.enable_type),
        ),
        (
            "kubefedctl federate cm x",
            "-t",
            |c| matches!(c.command, Command::Federate(a) if a.enable_type),
        ),
        ("kubefedctl join c1", "--dry-run", |c| c.global.dry_run),
        ("kubefedctl unjoin c1", "--dry-run", |c| c.global.dry_run),
        ("kubefedctl enable deployments.apps", "--dry-run", |c| {
            c.global.dry_run
        }),
        ("kubefedctl disable deployments.apps", "--dry-run", |c| {
            c.global.dry_run
        }),
        ("kubefedctl federate cm x", "--dry-run", |c| {
            c.global.dry_run
        }),
        (
            "kubefedctl orphaning-deletion enable fdeploy web",
            "--dry-run",
            |c| c.global.dry_run,
        ),
    ]
}

#[test]
fn every_boolean_flag_takes_pflag_forms() {
    for (prefix, flag, read) in bool_flags() {
        let parse_with = |suffix: &str| parse(&format!("{prefix} {suffix}"));
        assert!(!read(ok(prefix)), "{prefix}: default");
        for (form, expected) in [
            (flag.to_string(), true),
            (format!("{flag}=true"), true),
            (format!("{flag}=false"), false),
            (format!("{flag}=True"), true),
            (format!("{flag}=F"), false),
            (format!("{flag}=1"), true),
            (format!("{flag}=0"), false),
            // Repeated: the last one wins.
            (format!("{flag} {flag}=false"), false),
            (format!("{flag}=false {flag}"), true),
        ] {
            let cli = parse_with(&form).unwrap_or_else(|e| panic!("{prefix} {form}: {e}"));
            assert_eq!(read(cli), expected, "{prefix} {form}");
        }
        let err = parse_with(&format!("{flag}=maybe")).unwrap_err();
        assert!(err.contains("maybe"), "{prefix} {flag}=maybe: {err}");
        // pflag reads `--flag false` as the flag plus an argument `false`, which no command
        // takes after its own arguments.
        let err = parse_with(&format!("{flag} false")).unwrap_err();
        assert!(
            err.contains(&format!("as in {flag}=false")),
            "{prefix} {flag} false: {err}"
        );
    }
}

#[test]
fn flags_kubefedctl_did_not_have_are_refused_clearly() {
    let err = parse("kubefedctl join c1 --log_dir=/tmp").unwrap_err();
    assert!(err.contains("--log-dir"), "{err}");
    let err = parse("kubefedctl disable deployments.apps --federated-version v1").unwrap_err();
    assert!(err.contains("--federated-version"), "{err}");
    let err = parse("kubefedctl enable -f d.yaml deployments.apps").unwrap_err();
    assert!(err.contains("cannot be used with"), "{err}");
}
