//! KubeFed's status vocabulary: the per-cluster propagation status and the reason of the
//! `Propagation` condition, with the exact strings KubeFed writes (plus `Paused`, this
//! project's addition for paused objects).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Type of the condition summarising propagation.
pub const PROPAGATION_CONDITION: &str = "Propagation";
/// Type of the condition saying member writes are paused (`kubefed.io/paused`).
pub const PAUSED_CONDITION: &str = "Paused";

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vm])* $variant,)+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The exact string KubeFed writes to the API.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err(UnknownStatus(other.to_owned())),
                }
            }
        }
    };
}

/// A status string that is not part of KubeFed's vocabulary.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

string_enum! {
    /// Propagation status of a federated object in one member cluster
    /// (`status.clusters[].status`).
    PropagationStatus {
        /// In sync; written as the empty string.
        #[default]
        Ok => "",
        /// The object was removed from placement and its deletion is pending.
        WaitingForRemoval => "WaitingForRemoval",
        /// The member cluster is not ready.
        ClusterNotReady => "ClusterNotReady",
        /// The member object could not be read from the watch cache.
        CachedRetrievalFailed => "CachedRetrievalFailed",
        /// The member object could not be computed from the template.
        ComputeResourceFailed => "ComputeResourceFailed",
        /// The cluster's overrides could not be applied.
        ApplyOverridesFailed => "ApplyOverridesFailed",
        /// Creating the member object failed.
        CreationFailed => "CreationFailed",
        /// Updating the member object failed.
        UpdateFailed => "UpdateFailed",
        /// Deleting the member object failed.
        DeletionFailed => "DeletionFailed",
        /// Removing the managed label (orphaning) failed.
        LabelRemovalFailed => "LabelRemovalFailed",
        /// Reading the member object from the API failed.
        RetrievalFailed => "RetrievalFailed",
        /// An unmanaged object of the same name exists and adoption is disabled.
        AlreadyExists => "AlreadyExists",
        /// Fields to retain could not be copied from the member object.
        FieldRetentionFailed => "FieldRetentionFailed",
        /// The propagated version could not be read.
        VersionRetrievalFailed => "VersionRetrievalFailed",
        /// No client for the member cluster.
        ClientRetrievalFailed => "ClientRetrievalFailed",
        /// The member object is labelled `kubefed.io/managed: "false"`.
        ManagedLabelFalse => "ManagedLabelFalse",
        /// Creation did not finish in time.
        CreationTimedOut => "CreationTimedOut",
        /// Update did not finish in time.
        UpdateTimedOut => "UpdateTimedOut",
        /// Deletion did not finish in time.
        DeletionTimedOut => "DeletionTimedOut",
        /// Managed-label removal did not finish in time.
        LabelRemovalTimedOut => "LabelRemovalTimedOut",
        /// Not in KubeFed: the object is paused (`kubefed.io/paused`) and the member would
        /// be written to otherwise; the message says what is pending.
        Paused => "Paused",
    }
}

string_enum! {
    /// Reason of the `Propagation` condition.
    AggregateReason {
        /// Everything propagated; written as the empty string.
        #[default]
        Success => "",
        /// The list of member clusters could not be read.
        ClusterRetrievalFailed => "ClusterRetrievalFailed",
        /// Placement could not be computed (e.g. an invalid cluster selector).
        ComputePlacementFailed => "ComputePlacementFailed",
        /// At least one cluster is not in sync; see `status.clusters`.
        CheckClusters => "CheckClusters",
        /// The object's namespace has no FederatedNamespace (Cluster scope).
        NamespaceNotFederated => "NamespaceNotFederated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_matches_kubefed_strings() {
        use PropagationStatus as P;
        assert_eq!(P::Ok.as_str(), "");
        assert_eq!(P::ClusterNotReady.as_str(), "ClusterNotReady");
        assert_eq!(P::LabelRemovalTimedOut.as_str(), "LabelRemovalTimedOut");
        assert_eq!(P::ALL.len(), 21);
        for s in P::ALL {
            assert_eq!(s.as_str().parse::<P>(), Ok(*s));
        }
        assert_eq!(AggregateReason::Success.as_str(), "");
        assert_eq!(AggregateReason::ALL.len(), 5);
        for r in AggregateReason::ALL {
            assert_eq!(r.to_string().parse::<AggregateReason>(), Ok(*r));
        }
        assert!("Bogus".parse::<P>().is_err());
    }
}
