//! Cleans what a registry or a library says before anyone sees it: every
//! credential in every form it may be echoed (raw, JSON-escaped, percent-
//! encoded, base64 of `user:password`, in any mix of these), the values of
//! `Basic`/`Bearer` headers, and the query strings of URLs (an upload URL's
//! `_state` is a signed token, and no query string helps a reader).

use super::Enabled;

/// Removes every credential from text that may quote one (registry errors).
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    /// Each secret's forms (the secret, the base64 of `user:secret`, ...),
    /// each as alternatives per character.
    patterns: Vec<Vec<Vec<Vec<u8>>>>,
}

const MASK: &str = "***";

impl Scrubber {
    /// A scrubber for the credentials of `registries`.
    #[must_use]
    pub fn new(registries: &[Enabled]) -> Self {
        let mut forms: Vec<String> = Vec::new();
        for credentials in registries.iter().filter_map(|r| r.credentials.as_ref()) {
            let password = &credentials.password;
            if password.is_empty() {
                continue;
            }
            forms.push(password.clone());
            let pair = format!("{}:{password}", credentials.username);
            for secret in [pair.as_bytes(), password.as_bytes()] {
                forms.extend(base64_forms(secret));
            }
        }
        forms.sort_by_key(|s| std::cmp::Reverse(s.len()));
        forms.dedup();
        Self {
            patterns: forms.iter().map(|f| pattern(f)).collect(),
        }
    }

    /// `text` with every secret, every `Basic`/`Bearer` credential and
    /// every URL's query string removed.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        let masked = self.mask(text);
        let masked = mask_authorization(&masked);
        without_query_strings(&masked)
    }

    fn mask(&self, text: &str) -> String {
        if self.patterns.is_empty() {
            return text.to_string();
        }
        let bytes = text.as_bytes();
        let mut ends: Vec<Ends> = vec![Ends::new(); self.patterns.len()];
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        while at < bytes.len() {
            let longest = self
                .patterns
                .iter()
                .zip(&mut ends)
                .filter_map(|(p, ends)| matches(bytes, at, p, 0, ends))
                .max();
            match longest {
                Some(end) if end > at => {
                    out.extend_from_slice(MASK.as_bytes());
                    at = end;
                }
                _ => {
                    out.push(bytes[at]);
                    at += 1;
                }
            }
        }
        // Matches start and end on whole characters: the text stays UTF-8.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

/// Base64 of `secret` as registries and HTTP libraries write it: standard
/// and URL-safe alphabets, with and without padding.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    let standard = base64(secret);
    let url_safe = standard.replace('+', "-").replace('/', "_");
    let mut forms = vec![standard.clone(), url_safe.clone()];
    for form in [standard, url_safe] {
        let bare = form.trim_end_matches('=');
        if bare.len() != form.len() {
            forms.push(bare.to_string());
        }
    }
    forms
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Each character of `secret` with the ways it may be written: itself,
/// percent-encoded (either case; `+` for a space), JSON-escaped (`\"`,
/// `\\`, `\/`, `\uXXXX` in either case, UTF-16 pairs beyond the BMP).
fn pattern(secret: &str) -> Vec<Vec<Vec<u8>>> {
    secret
        .chars()
        .map(|c| {
            let mut utf8 = [0; 4];
            let raw = c.encode_utf8(&mut utf8).as_bytes().to_vec();
            let mut ways = vec![raw.clone()];
            for upper in [true, false] {
                let encoded: String = raw
                    .iter()
                    .map(|b| {
                        if upper {
                            format!("%{b:02X}")
                        } else {
                            format!("%{b:02x}")
                        }
                    })
                    .collect();
                ways.push(encoded.into_bytes());
                let mut units = [0; 2];
                let escaped: String = c
                    .encode_utf16(&mut units)
                    .iter()
                    .map(|u| {
                        if upper {
                            format!("\\u{u:04X}")
                        } else {
                            format!("\\u{u:04x}")
                        }
                    })
                    .collect();
                ways.push(escaped.into_bytes());
            }
            match c {
                ' ' => ways.push(b"+".to_vec()),
                '"' | '\\' | '/' => ways.push(vec![b'\\', c as u8]),
                '\n' => ways.push(b"\\n".to_vec()),
                '\t' => ways.push(b"\\t".to_vec()),
                '\r' => ways.push(b"\\r".to_vec()),
                _ => {}
            }
            ways.sort();
            ways.dedup();
            ways
        })
        .collect()
}

/// Backslashes an escape may carry in front beyond its own: JSON quoted in
/// JSON in JSON (1, 3, 7).
const EXTRA_BACKSLASHES: usize = 6;

/// Where a match of a pattern can end, remembered per `(position, unit)`:
/// backslashes can be read several ways, and a text of many must not make
/// the search exponential.
type Ends = std::collections::HashMap<(usize, usize), Option<usize>>;

/// The end of the longest match of `pattern[unit..]` at `at` in `text`, if
/// any. An escape (`\"`, `\u0022`) may carry more backslashes in front:
/// JSON quoted in JSON doubles them.
fn matches(
    text: &[u8],
    at: usize,
    pattern: &[Vec<Vec<u8>>],
    unit: usize,
    ends: &mut Ends,
) -> Option<usize> {
    let Some(ways) = pattern.get(unit) else {
        return Some(at);
    };
    if let Some(end) = ends.get(&(at, unit)) {
        return *end;
    }
    let backslashes = text[at..]
        .iter()
        .take(EXTRA_BACKSLASHES + 1)
        .take_while(|&&b| b == b'\\')
        .count();
    let mut best = None;
    for way in ways {
        let extra = if way.first() == Some(&b'\\') {
            backslashes.saturating_sub(1)
        } else {
            0
        };
        for start in at..=at + extra {
            if text[start..].starts_with(way)
                && let Some(end) = matches(text, start + way.len(), pattern, unit + 1, ends)
            {
                best = best.max(Some(end));
            }
        }
    }
    // Each position is tried once for the first unit: only the rest is
    // worth remembering (and memory stays small on a long text).
    if unit > 0 {
        ends.insert((at, unit), best);
    }
    best
}

/// The value after every `Basic `/`Bearer ` (an `Authorization` header
/// echoed, or a token the registry issued) replaced by `***`. A challenge's
/// parameters (`Bearer realm="..."`) are kept.
fn mask_authorization(text: &str) -> String {
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
        if token >= 4 && !parameter {
            out.push_str(MASK);
            rest = &value[token + padding..];
        } else {
            rest = value;
        }
    }
}

/// `text` with the query string of every URL in it removed.
fn without_query_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme) = rest.find("://") {
        let url_end = rest[scheme..]
            .find(|c: char| c.is_whitespace() || "\"'<>`,)]}\\".contains(c))
            .map_or(rest.len(), |i| scheme + i);
        let url = &rest[..url_end];
        match url[scheme..].find('?') {
            Some(query) => out.push_str(&url[..scheme + query]),
            None => out.push_str(url),
        }
        rest = &rest[url_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Credentials;
    use std::fmt::Write as _;

    fn scrubber(user: &str, password: &str) -> Scrubber {
        Scrubber::new(&[Enabled {
            host: "r".into(),
            repositories: Vec::new(),
            credentials: Some(Credentials {
                username: user.into(),
                password: password.into(),
            }),
            variables: Vec::new(),
        }])
    }

    const HARD: &str = "pa\"ss\\w:o/r'd$ 100% é€😀";

    #[test]
    fn the_base64_here_is_the_standard_one() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"u:p\xff"), "dTpw/w==");
    }

    /// The bug: a password containing `"` was printed JSON-escaped, and the
    /// `Authorization` header echoed, in the clear.
    #[test]
    fn a_password_is_masked_in_every_form_a_registry_may_echo_it() {
        let scrubber = scrubber("pusher", HARD);
        let json = serde_json::to_string(HARD).unwrap();
        let json = &json[1..json.len() - 1];
        let ascii_json: String = HARD
            .encode_utf16()
            .map(|u| match u {
                0x22 => "\\\"".to_string(),
                0x5c => "\\\\".to_string(),
                0x20..0x7f => char::from_u32(u.into()).unwrap().to_string(),
                _ => format!("\\u{u:04x}"),
            })
            .collect();
        let percent = HARD.bytes().fold(String::new(), |mut out, b| {
            let _ = write!(out, "%{b:02X}");
            out
        });
        let form: String = HARD
            .bytes()
            .map(|b| match b {
                b' ' => "+".to_string(),
                b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
                b => format!("%{b:02x}"),
            })
            .collect();
        let basic = base64(format!("pusher:{HARD}").as_bytes());
        let quoted_twice = serde_json::to_string(&serde_json::to_string(HARD).unwrap()).unwrap();
        let quoted_twice = &quoted_twice[3..quoted_twice.len() - 3];
        for echoed in [
            HARD.to_string(),
            json.to_string(),
            json.replace('/', "\\/"),
            ascii_json,
            percent,
            form,
            basic.clone(),
            basic
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_"),
            quoted_twice.to_string(),
        ] {
            let text = format!("{{\"detail\":\"got {echoed} here\"}}");
            assert_eq!(
                scrubber.scrub(&text),
                "{\"detail\":\"got *** here\"}",
                "{echoed}"
            );
        }
        let header = format!("Authorization: Basic {}\r\n", base64(b"someone:else"));
        assert_eq!(scrubber.scrub(&header), "Authorization: Basic ***\r\n");
    }

    /// Backslashes can be read several ways: a long run of them must not
    /// make masking exponential.
    #[test]
    fn a_password_of_backslashes_in_a_text_of_backslashes_is_masked_quickly() {
        let scrubber = scrubber("u", &"\\".repeat(12));
        let text = "\\".repeat(5_000);
        let started = std::time::Instant::now();
        let scrubbed = scrubber.scrub(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(scrubbed.contains("***"));
    }

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

    #[test]
    fn text_without_secrets_is_unchanged() {
        let scrubber = scrubber("u", "s3cret");
        let text = "pushed sha256:abc to 127.0.0.1:5000/org/app:1 — done";
        assert_eq!(scrubber.scrub(text), text);
        assert_eq!(
            scrubber.scrub("login u:s3cret failed"),
            "login u:*** failed"
        );
    }
}
