//! Secrets known by where they stand rather than by their value: the
//! value after `Basic `/`Bearer `, and the query string of a URL.

use super::MASK;

/// The value after every `Basic `/`Bearer ` (an `Authorization` header
/// echoed, or a token the registry issued) replaced by `***`. A challenge's
/// parameters (`Bearer realm="..."`) are kept.
pub(super) fn mask_authorization(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = ["Basic ", "Bearer ", "basic ", "bearer "]
            .iter()
            .filter_map(|scheme| rest.find(scheme).map(|i| (i, scheme.len())))
            .min();
        let Some((start, scheme)) = next else {
            out.push_str(rest);
            return out;
        };
        let value_start = start + scheme;
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..];
        let token = value
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b))
            .count();
        let padding = value[token..].bytes().take_while(|&b| b == b'=').count();
        let after = value.as_bytes().get(token + padding).copied();
        let parameter =
            padding > 0 && after.is_some_and(|b| b == b'"' || b.is_ascii_alphanumeric());
        let header = authorization_header(&out[..out.len() - scheme]);
        if !parameter && ((header && token > 0) || looks_like_credential(&value[..token])) {
            out.push_str(MASK);
            rest = &value[token + padding..];
        } else {
            rest = value;
        }
    }
}

/// Whether `before` (what precedes a `Basic `/`Bearer ` scheme) ends in an
/// `Authorization:` header name: whatever follows is a credential.
fn authorization_header(before: &str) -> bool {
    let before = before.trim_end().to_ascii_lowercase();
    before.ends_with("authorization:") || before.ends_with("authorization\":\"")
}

/// Whether a word after `Basic `/`Bearer ` is a credential rather than
/// prose (`no basic auth credentials`, `bearer token`): base64 or token
/// characters, at least 8 of them, and not a lower-case word.
fn looks_like_credential(token: &str) -> bool {
    token.len() >= 8 && !token.bytes().all(|b| b.is_ascii_lowercase())
}

/// `text` with the query string of every URL and every path in it
/// removed (`http://h/p?q`, `/v2/a/blobs/uploads/u1?_state=...`): a
/// path-like word (a `/` before its `?`) with something after the `?`.
pub(super) fn without_query_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let Some(word) = rest.find(|c: char| !ends_url(c)) else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..word]);
        rest = &rest[word..];
        let end = rest.find(ends_url).unwrap_or(rest.len());
        let word = &rest[..end];
        match word.split_once('?') {
            Some((path, query)) if path.contains('/') && !query.is_empty() => {
                out.push_str(path);
            }
            _ => out.push_str(word),
        }
        rest = &rest[end..];
    }
}

/// Whether `c` ends a URL or path in a message.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || "\"'<>`,)]}\\".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Scrubber;

    #[test]
    fn bearer_tokens_are_masked_and_challenges_kept() {
        let scrubber = Scrubber::default();
        assert_eq!(
            scrubber.scrub("Authorization: Bearer eyJhbGciOi.J9x_y-z; next"),
            "Authorization: Bearer ***; next"
        );
        let challenge =
            "WWW-Authenticate: Bearer realm=\"https://auth.example/token\",service=\"r\"";
        assert_eq!(scrubber.scrub(challenge), challenge);
        assert_eq!(scrubber.scrub("Basic realm=test"), "Basic realm=test");
    }

    /// The bug: a 500 error printed the upload URL with its `_state` token.
    #[test]
    fn urls_lose_their_query_strings() {
        assert_eq!(
            without_query_strings(
                "Server error: url http://127.0.0.1:5000/v2/a/blobs/uploads/f00?_state=c2VjcmV0&digest=sha256:1, code: 500"
            ),
            "Server error: url http://127.0.0.1:5000/v2/a/blobs/uploads/f00, code: 500"
        );
        assert_eq!(
            without_query_strings("see \"https://x.example/p?q=1\" and https://y.example"),
            "see \"https://x.example/p\" and https://y.example"
        );
    }

    /// The bug: an upload path without a scheme kept its `_state` token.
    #[test]
    fn paths_without_a_scheme_lose_their_query_strings() {
        assert_eq!(
            without_query_strings(
                "500 on PUT /v2/a/b/blobs/uploads/u1?_state=SECRET&digest=sha256:1: failed"
            ),
            "500 on PUT /v2/a/b/blobs/uploads/u1 failed"
        );
        assert_eq!(
            without_query_strings("location \"/v2/x/uploads/u?_state=S\" given"),
            "location \"/v2/x/uploads/u\" given"
        );
        let question = "`127.0.0.1:5000` refused the connection: is it running? and/or?";
        assert_eq!(without_query_strings(question), question);
    }

    /// The bug: `no basic auth credentials` became `no basic ***
    /// credentials`: a word after `basic` was taken for a credential.
    #[test]
    fn prose_after_basic_or_bearer_is_not_masked() {
        let scrubber = Scrubber::default();
        for text in [
            "no basic auth credentials",
            "unauthorized: authentication required; bearer token expired",
            "Basic authentication failed, Bearer tokenization disabled",
        ] {
            assert_eq!(scrubber.scrub(text), text);
        }
        assert_eq!(
            scrubber.scrub("Authorization: Basic dTpw"),
            "Authorization: Basic ***"
        );
        assert_eq!(
            scrubber.scrub("got Bearer abc.DEF-123 from the server"),
            "got Bearer *** from the server"
        );
    }
}
