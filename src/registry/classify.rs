//! What a registry's (or a daemon's) error means: whether retrying may help,
//! whether credentials were refused, whether the thing asked for does not
//! exist. Both the registry client and the engines' pushes read errors
//! here, so that one message is judged the same way wherever it comes from.

use std::time::Duration;

use super::failure::Failure;

/// Whether a push error may go away on retry.
#[must_use]
pub fn transient(message: &str) -> bool {
    let lower = without_locations(message);
    let auth = [
        "unauthorized",
        "not authorized",
        "authentication required",
        "denied",
        "forbidden",
        "401",
        "403",
    ];
    if auth.iter().any(|a| lower.contains(a)) {
        return false;
    }
    let transient = [
        "500",
        "502",
        "503",
        "504",
        "429",
        "too many requests",
        "internal server error",
        "bad gateway",
        "service unavailable",
        "connection refused",
        "connection reset",
        "eof",
        "timeout",
        "timed out",
        "broken pipe",
        "no such host",
        "dial tcp",
    ];
    transient.iter().any(|t| lower.contains(t))
}

/// Whether a push failed on authentication (credentials were checked
/// before, so this is a registry's passing fault).
#[must_use]
pub fn authentication_failed(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["unauthorized", "authentication required", "not authorized"]
        .iter()
        .any(|m| lower.contains(m))
}

/// Whether the host refused the connection: nothing listens there.
#[must_use]
pub fn connection_refused(message: &str) -> bool {
    message.to_ascii_lowercase().contains("connection refused")
}

/// A message, lower-cased, without its URLs, `host:port`s and digests:
/// status codes are looked for in what is left, never in a port number
/// (`:5000`) or a digest that happens to contain `500` or `401`.
#[must_use]
pub fn without_locations(message: &str) -> String {
    message
        .to_ascii_lowercase()
        .split_whitespace()
        .map(|word| {
            let bare = word.trim_matches(|c: char| "()[]{},;\"'`".contains(c));
            let is_location = bare.contains("://")
                || bare.starts_with("sha256:")
                || bare.contains('@')
                || bare.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty()
                        && host.contains(['.', '/'])
                        && !port.is_empty()
                        && port.bytes().all(|b| b.is_ascii_digit())
                })
                || (bare.contains('/') && bare.contains('.'));
            if is_location { "<location>" } else { word }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a failure concerns the whole registry rather than one
/// repository: refused credentials, no connection, no answer, a token
/// server down. Such a registry is said to fail for each of its tags
/// without being asked again; a 403 is about what the account may do in
/// one repository, and anything else about one request.
#[must_use]
pub fn whole_registry(failure: &Failure) -> bool {
    !matches!(
        failure,
        Failure::Other { .. } | Failure::Denied { status: 403 }
    )
}

/// Whether a failure says the repository or tag does not exist (looked for
/// outside URLs and digests, so a port 4040 is not a 404).
#[must_use]
pub fn not_found(failure: &Failure) -> bool {
    let Failure::Other { message, .. } = failure else {
        return false;
    };
    let words = without_locations(message);
    [
        "404",
        "name_unknown",
        "manifest_unknown",
        "manifest unknown",
        "repository name not known",
        "not found",
    ]
    .iter()
    .any(|m| words.contains(m))
}

/// What an error of the OCI client means for the user; `bound` is the
/// time a request was given, for one that timed out.
#[must_use]
pub fn oci(error: &oci_client::errors::OciDistributionError, bound: Duration) -> Failure {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode as Code};
    let message = chain(error);
    match error {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
            Failure::Denied { status: 401 }
        }
        E::ServerError {
            code: code @ (401 | 403),
            ..
        } => Failure::Denied { status: *code },
        E::ServerError { code, .. } => Failure::Other {
            transient: *code >= 500 || *code == 429,
            message,
        },
        E::RegistryError { envelope, .. } => {
            let codes: Vec<&Code> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.contains(&&Code::Unauthorized) {
                Failure::Denied { status: 401 }
            } else if codes.contains(&&Code::Denied) {
                Failure::Denied { status: 403 }
            } else {
                Failure::Other {
                    transient: codes.contains(&&Code::Toomanyrequests),
                    message,
                }
            }
        }
        E::RequestError(e) if e.is_timeout() => Failure::Silent { after: bound },
        E::RequestError(e) if e.is_connect() => {
            let refused = connection_refused(&message);
            let cause = message.rsplit(": ").next().unwrap_or_default().to_string();
            Failure::Unreachable {
                refused,
                message: cause,
                proxy: None,
            }
        }
        E::RequestError(_) | E::IoError(_) => Failure::Other {
            message,
            transient: true,
        },
        _ => Failure::Other {
            transient: transient(&message),
            message,
        },
    }
}

/// An error with its causes, as `a: b: c` (connection errors say what
/// happened only in their causes).
#[must_use]
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_not_read_in_ports_urls_or_digests() {
        assert!(!transient(
            "Not authorized: url http://127.0.0.1:5000/v2/app/tags/list"
        ));
        assert!(!transient(
            "unknown blob sha256:5004011 on 127.0.0.1:5000/app"
        ));
        assert!(transient(
            "received unexpected HTTP status: 500 Internal Server Error"
        ));
        assert!(transient(
            "Get http://127.0.0.1:4040/v2/: dial tcp 127.0.0.1:4040: connect: connection refused"
        ));
        assert!(transient("toomanyrequests: 429 Too Many Requests"));
        assert!(!transient("unauthorized: authentication required"));
    }

    #[test]
    fn registry_errors_become_what_they_mean() {
        use oci_client::errors::{OciDistributionError as E, OciEnvelope, OciError, OciErrorCode};
        let bound = Duration::from_secs(1);
        let server = |code: u16| E::ServerError {
            code,
            url: "http://r.example/v2/a/blobs/uploads/u?_state=x".into(),
            message: "{}".into(),
        };
        let envelope = |code: OciErrorCode| E::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: "no".into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "http://r.example/v2/".into(),
        };
        assert_eq!(oci(&server(401), bound), Failure::Denied { status: 401 });
        assert_eq!(oci(&server(403), bound), Failure::Denied { status: 403 });
        assert_eq!(
            oci(&envelope(OciErrorCode::Unauthorized), bound),
            Failure::Denied { status: 401 }
        );
        assert_eq!(
            oci(&envelope(OciErrorCode::Denied), bound),
            Failure::Denied { status: 403 }
        );
        assert!(oci(&server(503), bound).transient());
        assert!(oci(&server(429), bound).transient());
        assert!(oci(&envelope(OciErrorCode::Toomanyrequests), bound).transient());
        assert!(!oci(&server(400), bound).transient());
        let found = oci(&envelope(OciErrorCode::ManifestUnknown), bound);
        assert!(!found.transient());
    }

    #[test]
    fn a_port_or_digest_holding_404_is_not_a_missing_tag() {
        let other = |message: &str| Failure::Other {
            message: message.into(),
            transient: false,
        };
        assert!(not_found(&other("manifest unknown: tag `1` not found")));
        assert!(not_found(&other("received status 404 from the registry")));
        assert!(!not_found(&other(
            "cannot reach http://127.0.0.1:4040/v2/ sha256:404f00"
        )));
        assert!(!not_found(&Failure::Denied { status: 401 }));
    }

    #[test]
    fn refused_credentials_and_silence_concern_the_whole_registry_a_403_one_repository() {
        assert!(whole_registry(&Failure::Denied { status: 401 }));
        assert!(whole_registry(&Failure::Silent {
            after: Duration::from_secs(1)
        }));
        assert!(whole_registry(&Failure::Unreachable {
            refused: true,
            message: String::new(),
            proxy: None,
        }));
        assert!(whole_registry(&Failure::TokenServer {
            url: "https://auth.example/token".into(),
            status: 503,
        }));
        assert!(!whole_registry(&Failure::Denied { status: 403 }));
        assert!(!whole_registry(&Failure::Other {
            message: "manifest invalid".into(),
            transient: false,
        }));
    }

    #[test]
    fn authentication_errors_are_told_from_others() {
        assert!(authentication_failed(
            "unauthorized: authentication required"
        ));
        assert!(authentication_failed("Not Authorized"));
        assert!(!authentication_failed("500 Internal Server Error"));
        assert!(connection_refused("dial tcp: Connection refused"));
        assert!(!connection_refused("connection reset by peer"));
    }
}
