//! The category of a failure: the label of the `kubefed_errors_total` metric and the word
//! events and logs use, so a user can tell "the member refused it" from "the member did not
//! answer" at a glance.

use std::fmt;

/// What kind of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCategory {
    /// The API refused the request as invalid (400, 422): retrying the same request fails
    /// the same way until the input changes.
    Rejected,
    /// The credential lacks permission (401, 403).
    Forbidden,
    /// The resource type is not served (404 on a type).
    NotServed,
    /// Someone else changed the object first (409).
    Conflict,
    /// The server is overloaded or failing (429, 5xx).
    ServerError,
    /// No answer in time.
    Timeout,
    /// The connection could not be made or broke.
    Unreachable,
}

impl ErrorCategory {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Rejected => "rejected",
            ErrorCategory::Forbidden => "forbidden",
            ErrorCategory::NotServed => "not-served",
            ErrorCategory::Conflict => "conflict",
            ErrorCategory::ServerError => "server-error",
            ErrorCategory::Timeout => "timeout",
            ErrorCategory::Unreachable => "unreachable",
        }
    }

    /// The category of a client error.
    pub fn of(err: &kube::Error) -> Self {
        match err {
            kube::Error::Api(status) => match status.code {
                401 | 403 => ErrorCategory::Forbidden,
                404 => ErrorCategory::NotServed,
                409 => ErrorCategory::Conflict,
                429 | 500.. => ErrorCategory::ServerError,
                _ => ErrorCategory::Rejected,
            },
            _ => ErrorCategory::Unreachable,
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("x", "y").with_code(code),
        ))
    }

    #[test]
    fn categories_of_api_errors() {
        assert_eq!(ErrorCategory::of(&api(422)), ErrorCategory::Rejected);
        assert_eq!(ErrorCategory::of(&api(400)), ErrorCategory::Rejected);
        assert_eq!(ErrorCategory::of(&api(403)), ErrorCategory::Forbidden);
        assert_eq!(ErrorCategory::of(&api(404)), ErrorCategory::NotServed);
        assert_eq!(ErrorCategory::of(&api(409)), ErrorCategory::Conflict);
        assert_eq!(ErrorCategory::of(&api(429)), ErrorCategory::ServerError);
        assert_eq!(ErrorCategory::of(&api(503)), ErrorCategory::ServerError);
        assert_eq!(ErrorCategory::ServerError.to_string(), "server-error");
    }
}
