//! The cluster controller: health of every member cluster, published to the other controllers
//! and written to `KubeFedCluster.status`.

pub mod health;
