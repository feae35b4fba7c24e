//! Bearer-token authentication against the cluster's token table (the admin token, tokens
//! registered by tests, ServiceAccount tokens from the token controller and TokenRequests).

use http::header;

use crate::server::cluster::{Cluster, UserInfo};
use crate::server::error::{ApiError, ApiResult};

/// The user a ServiceAccount token authenticates as.
pub fn service_account_user(namespace: &str, name: &str) -> UserInfo {
    UserInfo {
        name: format!("system:serviceaccount:{namespace}:{name}"),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".into(),
        ],
    }
}

impl Cluster {
    /// The user behind the request's `Authorization: Bearer` header; 401 without a known one.
    pub(crate) fn authenticate_request(&self, parts: &http::request::Parts) -> ApiResult<UserInfo> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        self.inner
            .tokens
            .read()
            .get(token.trim())
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}
