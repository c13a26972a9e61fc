//! Why a request to a registry failed, and how that is said: what to
//! check next rather than the registry's raw answer.

use std::time::Duration;

use super::enabled::Enabled;

/// ` after N attempts` when there was more than one, else nothing: the
/// one way retries are said.
#[must_use]
pub fn after_attempts(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

/// What an account needed of a repository when it was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Pushing (the credential check and pushes).
    Push,
    /// Reading (`status`, the check after a push).
    Read,
}

/// Why a request to a registry failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The registry refused the credentials (401) or what they may do (403).
    Denied {
        /// The HTTP status.
        status: u16,
    },
    /// The connection could not be made: refused, or the name did not resolve.
    Unreachable {
        /// True when the host refused the connection (nothing listens).
        refused: bool,
        /// What the client said, for the other cases.
        message: String,
        /// The proxy the connection went to, when one is configured for
        /// the host (it, not the registry, refused or could not be reached).
        proxy: Option<String>,
    },
    /// The token server the registry sends clients to failed (5xx, 429):
    /// the credentials were not judged.
    TokenServer {
        /// Where it is (without its query).
        url: String,
        /// The HTTP status it answered.
        status: u16,
    },
    /// No answer within the bound.
    Silent {
        /// The bound.
        after: Duration,
    },
    /// Anything else: a 5xx or 429, a malformed answer, a cut connection.
    Other {
        /// What was said (may quote credentials: scrub it).
        message: String,
        /// Whether retrying may help.
        transient: bool,
    },
}

impl Failure {
    /// Whether retrying may help.
    #[must_use]
    pub fn transient(&self) -> bool {
        match self {
            Self::Denied { .. } => false,
            Self::Unreachable { .. } | Self::Silent { .. } | Self::TokenServer { .. } => true,
            Self::Other { transient, .. } => *transient,
        }
    }

    /// What happened, in words, for `registry` (and `repository`, when the
    /// request concerned one), after `attempts`, when the account needed
    /// `access`: what to check next, and never the registry's raw answer
    /// when the status says it all.
    #[must_use]
    pub fn describe(
        &self,
        registry: &Enabled,
        repository: &str,
        access: Access,
        attempts: u32,
    ) -> String {
        let host = &registry.host;
        let after = after_attempts(attempts);
        let variables = registry
            .variables
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(" and ");
        match self {
            Self::Denied { status: 401 } if variables.is_empty() => format!(
                "`{host}` requires authentication (401): name the variables that hold its credentials with `user` and `pwd` in the manifest"
            ),
            Self::Denied { status: 401 } => format!(
                "authentication to `{host}` failed (401): check the variables its `user`/`pwd` name, {variables}"
            ),
            Self::Denied { status } => format!(
                "`{host}` denied access to `{repository}` ({status}): the account in {} may not {} there: check its permissions",
                registry
                    .variables
                    .first()
                    .map_or_else(|| "its `user` variable".to_string(), |v| format!("`{v}`")),
                match access {
                    Access::Push => "push",
                    Access::Read => "read",
                }
            ),
            Self::Unreachable {
                refused,
                message,
                proxy: Some(proxy),
            } => format!(
                "the proxy {proxy} {}{after} on the way to `{host}`: is it running, or should `{host}` be in `no_proxy`?",
                if *refused {
                    "refused the connection".to_string()
                } else {
                    format!("could not be reached ({message})")
                }
            ),
            Self::Unreachable { refused: true, .. } => {
                format!("`{host}` refused the connection{after}: is it running?")
            }
            Self::Unreachable { message, .. } => format!(
                "`{host}` could not be reached{after} ({message}): is the name right, and is it running?"
            ),
            Self::TokenServer { url, status } => format!(
                "the token server at {url} failed ({status}){after}: the credentials for `{host}` were not checked; try again later"
            ),
            Self::Silent { after: bound } => format!(
                "`{host}` did not answer within {} s{after}: is it overloaded, or is a proxy in between stuck? (`--timeout` sets the bound)",
                bound.as_secs_f64()
            ),
            Self::Other { message, .. } => format!("`{host}` failed{after}: {message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bug: a 403 said "check what the account in `A` and `B` may do
    /// there", naming the password's variable as an account, and not what
    /// was refused.
    #[test]
    fn a_403_names_the_account_variable_and_what_it_may_not_do() {
        let registry = Enabled {
            host: "r.example".into(),
            repositories: Vec::new(),
            credentials: None,
            variables: vec!["REG_USER".into(), "REG_PASSWORD".into()],
        };
        let denied = Failure::Denied { status: 403 };
        assert_eq!(
            denied.describe(&registry, "r.example/org/app", Access::Push, 1),
            "`r.example` denied access to `r.example/org/app` (403): the account in `REG_USER` may not push there: check its permissions"
        );
        assert!(
            denied
                .describe(&registry, "r.example/org/app", Access::Read, 1)
                .contains("may not read there")
        );
    }
}
