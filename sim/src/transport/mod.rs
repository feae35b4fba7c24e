//! How requests reach a cluster: in-process (`tower::Service`), HTTP(S) listeners on
//! 127.0.0.1 and the kubeconfigs that point at them.

pub mod http_server;
pub mod kubeconfig;
pub mod listener;
pub mod pause;
pub mod service;
pub mod tls;
