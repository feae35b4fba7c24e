//! Which sync workers should run, from the FederatedTypeConfigs and the federation scope.

use crate::crds::federated_type_config::{
    ControllerStatus, FederatedTypeConfig, FederatedTypeConfigStatus,
};
use crate::crds::{ConfigurationMode, Scope};

/// Name of the FederatedTypeConfig of namespaces, which namespaced types depend on.
pub const NAMESPACES_TYPE_CONFIG: &str = "namespaces";

/// Whether a type config's worker should run, and why not when it should not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerPlan {
    Run,
    Stop(String),
}

fn is_namespaces(ftc: &FederatedTypeConfig) -> bool {
    let t = &ftc.spec.target_type;
    t.group.is_empty() && t.kind == "Namespace"
}

/// Applies KubeFed's rules: propagation must be enabled; in Namespaced scope cluster-scoped
/// types do not run; in Cluster scope namespaced types need the namespaces type enabled.
pub fn worker_plan(
    ftc: &FederatedTypeConfig,
    scope: Scope,
    namespaces_enabled: bool,
) -> WorkerPlan {
    if ftc.metadata.deletion_timestamp.is_some() {
        return WorkerPlan::Stop("being deleted".into());
    }
    if ftc.spec.propagation != ConfigurationMode::Enabled {
        return WorkerPlan::Stop("propagation is Disabled".into());
    }
    let namespaced = ftc.spec.target_type.scope == Scope::Namespaced;
    match scope {
        Scope::Namespaced if !namespaced && !is_namespaces(ftc) => WorkerPlan::Stop(
            "cluster-scoped types are not propagated when the federation scope is Namespaced"
                .into(),
        ),
        Scope::Cluster if namespaced && !namespaces_enabled => WorkerPlan::Stop(format!(
            "namespaced types need the FederatedTypeConfig {NAMESPACES_TYPE_CONFIG:?} with propagation Enabled"
        )),
        _ => WorkerPlan::Run,
    }
}

/// The status to write for a type config given whether its worker runs.
pub fn type_config_status(ftc: &FederatedTypeConfig, running: bool) -> FederatedTypeConfigStatus {
    let state = |on: bool| {
        if on {
            ControllerStatus::Running
        } else {
            ControllerStatus::NotRunning
        }
    };
    let collects = ftc.spec.status_collection == Some(ConfigurationMode::Enabled);
    FederatedTypeConfigStatus {
        observed_generation: ftc.metadata.generation.unwrap_or_default(),
        propagation_controller: state(running),
        status_controller: Some(state(running && collects)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crds::default_type_configs;

    fn ftc(name: &str) -> FederatedTypeConfig {
        default_type_configs("kube-federation-system")
            .into_iter()
            .find(|f| f.metadata.name.as_deref() == Some(name))
            .unwrap()
    }

    #[test]
    fn enabled_types_run_in_cluster_scope() {
        assert_eq!(
            worker_plan(&ftc("deployments.apps"), Scope::Cluster, true),
            WorkerPlan::Run
        );
        assert_eq!(
            worker_plan(&ftc("namespaces"), Scope::Cluster, true),
            WorkerPlan::Run
        );
        assert_eq!(
            worker_plan(
                &ftc("clusterroles.rbac.authorization.k8s.io"),
                Scope::Cluster,
                true
            ),
            WorkerPlan::Run
        );
    }

    #[test]
    fn namespaced_types_need_namespaces() {
        assert!(matches!(
            worker_plan(&ftc("configmaps"), Scope::Cluster, false),
            WorkerPlan::Stop(why) if why.contains("namespaces")
        ));
    }

    #[test]
    fn namespaced_scope_skips_cluster_scoped_types() {
        assert!(matches!(
            worker_plan(
                &ftc("clusterroles.rbac.authorization.k8s.io"),
                Scope::Namespaced,
                true
            ),
            WorkerPlan::Stop(_)
        ));
        assert_eq!(
            worker_plan(&ftc("configmaps"), Scope::Namespaced, false),
            WorkerPlan::Run
        );
    }

    #[test]
    fn disabled_propagation_stops() {
        let mut f = ftc("secrets");
        f.spec.propagation = ConfigurationMode::Disabled;
        assert!(matches!(
            worker_plan(&f, Scope::Cluster, true),
            WorkerPlan::Stop(_)
        ));
    }

    #[test]
    fn status_reflects_running_and_collection() {
        let mut f = ftc("deployments.apps");
        f.metadata.generation = Some(3);
        let s = type_config_status(&f, true);
        assert_eq!(s.observed_generation, 3);
        assert_eq!(s.propagation_controller, ControllerStatus::Running);
        assert_eq!(s.status_controller, Some(ControllerStatus::Running));
        let s = type_config_status(&ftc("secrets"), true);
        assert_eq!(s.status_controller, Some(ControllerStatus::NotRunning));
        let s = type_config_status(&f, false);
        assert_eq!(s.propagation_controller, ControllerStatus::NotRunning);
    }
}
