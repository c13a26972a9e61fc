//! What lies behind a failure the OCI client cannot tell apart: a 401
//! that a token server which is down caused rather than the credentials,
//! and a refused connection that is a proxy's rather than the registry's.

use super::Distribution;
use crate::registry::classify;
use crate::registry::enabled::Credentials;
use crate::registry::failure::Failure;
use crate::registry::reference::is_loopback;

impl Distribution {
    /// Why a registry refused `credentials` (401): when it sends clients to
    /// a token server, that server is asked again to learn its status:
    /// 401/403 is the credentials, 5xx and 429 the server.
    pub(super) async fn token_server(
        &self,
        reference: &oci_client::Reference,
        credentials: Option<&Credentials>,
    ) -> Failure {
        let denied = Failure::Denied { status: 401 };
        let host = reference.resolve_registry();
        let scheme = if is_loopback(host) { "http" } else { "https" };
        let Ok(client) = reqwest::Client::builder().timeout(self.timeout).build() else {
            return denied;
        };
        let Ok(Ok(answer)) = tokio::time::timeout(
            self.timeout,
            client.get(format!("{scheme}://{host}/v2/")).send(),
        )
        .await
        else {
            return denied;
        };
        let Some((realm, service)) = answer
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .and_then(bearer_challenge)
        else {
            return denied;
        };
        let mut query = vec![(
            "scope",
            format!("repository:{}:pull", reference.repository()),
        )];
        if let Some(service) = service {
            query.push(("service", service));
        }
        let mut request = client.get(&realm).query(&query);
        if let Some(c) = credentials {
            request = request.basic_auth(&c.username, Some(&c.password));
        }
        let url = realm.split('?').next().unwrap_or_default().to_string();
        match tokio::time::timeout(self.timeout, request.send()).await {
            Ok(Ok(answer)) => match answer.status().as_u16() {
                status @ (429 | 500..) => Failure::TokenServer { url, status },
                _ => denied,
            },
            Ok(Err(e)) if e.is_timeout() => Failure::Silent {
                after: self.timeout,
            },
            Ok(Err(e)) => Failure::Other {
                message: format!(
                    "the token server at {url} could not be reached: {}",
                    classify::chain(&e)
                ),
                transient: true,
            },
            Err(_) => Failure::Silent {
                after: self.timeout,
            },
        }
    }
}

/// The proxy requests to `host` go through, as the HTTP client picks it
/// from the environment (`http_proxy` for loopback registries, spoken to
/// over HTTP, `https_proxy` otherwise, then `all_proxy`; upper case too),
/// unless `no_proxy` names the host: `URL` (from `VARIABLE`), without
/// credentials.
pub(super) fn proxy_for(host: &str) -> Option<String> {
    proxy_from(host, |name| std::env::var(name).ok())
}

fn proxy_from(host: &str, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    // The value, and the variable it came from.
    let var = |name: &str| {
        let upper = name.to_ascii_uppercase();
        [name.to_string(), upper]
            .into_iter()
            .find_map(|n| var(&n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
    };
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if let Some((_, no_proxy)) = var("no_proxy")
        && no_proxy.split(',').map(str::trim).any(|entry| {
            let entry = entry.trim_start_matches('.');
            let entry = entry.rsplit_once(':').map_or(entry, |(h, _)| h);
            entry == "*"
                || (!entry.is_empty() && (name == entry || name.ends_with(&format!(".{entry}"))))
        })
    {
        return None;
    }
    let scheme = if is_loopback(host) { "http" } else { "https" };
    let variable = format!("{scheme}_proxy");
    [variable.as_str(), "all_proxy"].iter().find_map(|v| {
        var(v).map(|(v, url)| {
            let url = match url.split_once("://") {
                Some((scheme, rest)) => {
                    format!(
                        "{scheme}://{}",
                        rest.rsplit_once('@').map_or(rest, |(_, h)| h)
                    )
                }
                None => url
                    .rsplit_once('@')
                    .map_or(url.as_str(), |(_, h)| h)
                    .to_string(),
            };
            format!("`{url}` (from `{v}`)")
        })
    })
}

/// The `realm` and `service` of a `Bearer` challenge.
fn bearer_challenge(header: &str) -> Option<(String, Option<String>)> {
    let (scheme, parameters) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for parameter in parameters.split(',') {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some((realm?, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_of_a_host_is_found_as_the_client_finds_it() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_string())
            }
        };
        let vars = &[
            ("http_proxy", "http://u:secret@127.0.0.1:3128"),
            ("HTTPS_PROXY", "http://proxy.example:8080"),
            ("no_proxy", "internal.example,.corp"),
        ];
        assert_eq!(
            proxy_from("127.0.0.1:5000", env(vars)).as_deref(),
            Some("`http://127.0.0.1:3128` (from `http_proxy`)")
        );
        assert_eq!(
            proxy_from("ghcr.io", env(vars)).as_deref(),
            Some("`http://proxy.example:8080` (from `HTTPS_PROXY`)")
        );
        assert_eq!(proxy_from("internal.example:443", env(vars)), None);
        assert_eq!(proxy_from("r.corp", env(vars)), None);
        assert_eq!(proxy_from("ghcr.io", env(&[])), None);
    }
}
