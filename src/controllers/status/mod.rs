//! Status aggregation: the pure core of the status controller, which writes members' live
//! status back onto the federated object.
//!
//! Shape of a `Federated<Kind>.status` (KubeFed's fields unchanged, additions marked `+`):
//!
//! ```yaml
//! status:
//!   observedGeneration: 4          # advances only when every placed, reachable member caught up
//!   conditions:
//!   - {type: Propagation, status: "True", lastUpdateTime: …, lastTransitionTime: …}
//!   - {type: Ready, status: "False", reason: ReplicasUnavailable, …}   # + (Complete for Jobs)
//!   clusters:
//!   - name: cluster1
//!     status: ""                  # propagation status, KubeFed's vocabulary
//!     remoteStatus: {…}           # the member's .status (see `remote_status`)
//!     generation: 3               # + member metadata.generation after the last apply
//!     observedGeneration: 3       # + member status.observedGeneration
//!     stale: true                 # + member unreachable; remoteStatus is the last one seen
//!     lastSeen: "2026-…Z"         # + when it was last reachable (only while stale)
//!   aggregate:                    # +
//!     clusters: "2/2"             # reachable and in sync / placed       (CLUSTERS column)
//!     ready: "6/8"                # Deployment, ReplicaSet              (READY column)
//!     desiredReplicas: 8
//!     replicas: 8
//!     readyReplicas: 6
//!     availableReplicas: 6
//!     updatedReplicas: 8
//!     succeeded: 3                # Job: succeeded, failed, active
//!     loadBalancer:               # Service: ingress per reachable cluster
//!     - {cluster: cluster1, ingress: [{ip: 203.0.113.10}]}
//! ```
//!
//! The controller loop reads members through the shared watches, builds one
//! [`aggregate::ClusterObservation`] per placed cluster (its `remote_status` from
//! [`aggregate::remote_status`]) and calls [`aggregate::collected_status`], which combines
//! [`aggregate::cluster_entry`], [`aggregate::aggregate`], [`aggregate::set_condition`] and
//! [`aggregate::observed_generation`]; [`patch::status_patch`] tells it whether to write and
//! what, and [`coalesce::Coalescer`] bounds how often. A writer that computes status from
//! propagation alone uses [`aggregate::keep_collected`] so it does not erase these fields.

pub mod aggregate;
pub mod coalesce;
pub mod patch;
