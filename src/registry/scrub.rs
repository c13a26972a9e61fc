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
    /// Per pattern, whether it is masked only as a whole word: the forms of
    /// a password shorter than [`SHORT_SECRET`] would otherwise cut holes
    /// in ordinary words (`pro***y` for `xx`).
    whole_word: Vec<bool>,
}

/// Passwords shorter than this (in characters) are masked only where they
/// stand alone, between characters that are not letters or digits.
pub const SHORT_SECRET: usize = 4;

const MASK: &str = "***";

impl Scrubber {
    /// A scrubber for the credentials of `registries`.
    #[must_use]
    pub fn new(registries: &[Enabled]) -> Self {
        // Each form, and whether it is masked as a whole word only.
        let mut forms: Vec<(String, bool)> = Vec::new();
        for credentials in registries.iter().filter_map(|r| r.credentials.as_ref()) {
            let password = &credentials.password;
            if password.is_empty() {
                continue;
            }
            let short = password.chars().count() < SHORT_SECRET;
            forms.push((password.clone(), short));
            forms.extend(
                base64_forms(password.as_bytes())
                    .into_iter()
                    .map(|f| (f, short)),
            );
            let pair = format!("{}:{password}", credentials.username);
            forms.extend(
                base64_forms(pair.as_bytes())
                    .into_iter()
                    .map(|f| (f, false)),
            );
        }
        forms.sort_by_key(|(s, short)| (std::cmp::Reverse(s.len()), *short));
        forms.dedup_by(|a, b| a.0 == b.0);
        Self {
            patterns: forms.iter().map(|(f, _)| pattern(f)).collect(),
            whole_word: forms.iter().map(|(_, short)| *short).collect(),
        }
    }

    /// `text` with every secret, every `Basic`/`Bearer` credential and
    /// every URL's query string removed.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        let masked = self.mask(text);
        let masked = self.mask_encoded(&masked);
        let masked = mask_authorization(&masked);
        without_query_strings(&masked)
    }

    /// `text` with every base64 run (either alphabet, padded or not) that
    /// decodes to text holding a secret replaced: the credentials JSON of an
    /// `X-Registry-Auth` header, say, whose encoding of the password
    /// depends on what precedes it.
    fn mask_encoded(&self, text: &str) -> String {
        if self.patterns.is_empty() {
            return text.to_string();
        }
        let is_base64 = |b: u8| b.is_ascii_alphanumeric() || b"+/-_".contains(&b);
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut at = 0;
        while at < bytes.len() {
            if !is_base64(bytes[at]) {
                at += 1;
                continue;
            }
            let start = at;
            while at < bytes.len() && is_base64(bytes[at]) {
                at += 1;
            }
            let digits = &text[start..at];
            while at < bytes.len() && bytes[at] == b'=' {
                at += 1;
            }
            // A run may begin with text that is not part of the encoding
            // (`value-eyJ...`): each alignment is tried, and a few bytes of
            // noise in front are allowed.
            let secret = digits.len() >= MIN_ENCODED
                && (0..4).any(|skip| {
                    decode_base64(&digits[skip..])
                        .and_then(|decoded| mostly_text(&decoded))
                        .is_some_and(|decoded| self.mask(&decoded) != decoded)
                });
            if secret {
                out.push_str(&text[copied..start]);
                out.push_str(MASK);
                copied = at;
            }
        }
        out.push_str(&text[copied..]);
        out
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
                .zip(&self.whole_word)
                .zip(&mut ends)
                .filter_map(|((p, &whole_word), ends)| {
                    matches(bytes, at, p, 0, ends)
                        .filter(|&end| !whole_word || stands_alone(text, at, end))
                })
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

/// Whether `text[start..end]` is not part of a longer word: no letter or
/// digit touches it on either side.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let word = |c: char| c.is_alphanumeric();
    let before = text.get(..start).and_then(|t| t.chars().next_back());
    let after = text.get(end..).and_then(|t| t.chars().next());
    !before.is_some_and(word) && !after.is_some_and(word)
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

/// The shortest base64 run worth decoding: shorter ones are words.
const MIN_ENCODED: usize = 8;

/// The bytes `digits` encode in base64, in either alphabet, without
/// padding; `None` when they cannot be base64.
fn decode_base64(digits: &str) -> Option<Vec<u8>> {
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() / 4 * 3 + 2);
    let mut bits = 0u32;
    let mut count = 0;
    for b in digits.bytes() {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        bits = bits << 6 | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from(bits >> count & 0xff).unwrap_or_default());
        }
    }
    Some(out)
}

/// `bytes` as text when they mostly are (binary data decoded from a
/// digest or a random token is not, and may hold a short secret by chance).
fn mostly_text(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let noise = text
        .chars()
        .filter(|&c| c == char::REPLACEMENT_CHARACTER || (c.is_control() && !c.is_whitespace()))
        .count();
    (noise * 10 <= text.chars().count()).then(|| text.into_owned())
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
            ways.extend(go_and_html_escapes(c, &raw));
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

/// The other ways `c` (`raw` in UTF-8) may be written: Go's and Python's
/// `\xNN` per byte and `\UXXXXXXXX`, HTML's numeric references (decimal,
/// hexadecimal) and its named ones (`&quot;`, `&amp;`, ...), as Go's
/// `html.EscapeString` and HTML error pages write them.
fn go_and_html_escapes(c: char, raw: &[u8]) -> Vec<Vec<u8>> {
    let code = u32::from(c);
    let mut ways: Vec<String> = Vec::new();
    for upper in [true, false] {
        let hex = |n: u32, width: usize| {
            if upper {
                format!("{n:0width$X}")
            } else {
                format!("{n:0width$x}")
            }
        };
        ways.push(raw.iter().fold(String::new(), |mut out, &b| {
            out.push_str("\\x");
            out.push_str(&hex(b.into(), 2));
            out
        }));
        ways.push(format!("\\U{}", hex(code, 8)));
        ways.push(format!("&#x{};", hex(code, 0)));
        ways.push(format!("&#X{};", hex(code, 0)));
    }
    ways.push(format!("&#{code};"));
    ways.push(format!("&#{code:03};"));
    let named: &[&str] = match c {
        '"' => &["&quot;", "&QUOT;"],
        '&' => &["&amp;", "&AMP;"],
        '<' => &["&lt;", "&LT;"],
        '>' => &["&gt;", "&GT;"],
        '\'' => &["&apos;"],
        _ => &[],
    };
    ways.extend(named.iter().map(|n| (*n).to_string()));
    ways.into_iter().map(String::into_bytes).collect()
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
fn without_query_strings(text: &str) -> String {
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

    /// The bug: HTML-escaped and Go-escaped passwords were printed.
    #[test]
    fn a_password_is_masked_html_escaped_and_go_escaped() {
        let password = "<a&b>\"c'é😀";
        let scrubber = scrubber("pusher", password);
        let html_named = "&lt;a&amp;b&gt;&quot;c&#39;é😀";
        let html_numeric = "&#60;a&#38;b&#62;&#34;c&#039;&#233;&#x1F600;";
        let go_x = password.bytes().fold(String::new(), |mut out, b| {
            let _ = write!(out, "\\x{b:02x}");
            out
        });
        let go_u = "<a&b>\\\"c'\\u00e9\\U0001f600";
        let go_json_html = "\\u003ca\\u0026b\\u003e\\\"c'\\u00E9\\ud83d\\ude00";
        for echoed in [html_named, html_numeric, &go_x, go_u, go_json_html] {
            let text = format!("message: got [{echoed}] here");
            assert_eq!(scrubber.scrub(&text), "message: got [***] here", "{echoed}");
        }
    }

    /// The bug: the base64 of a JSON object holding the password (an
    /// `X-Registry-Auth` header) was printed: its encoding of the password
    /// depends on what precedes it.
    #[test]
    fn a_base64_credentials_object_holding_the_password_is_masked() {
        let password = "tilde~x";
        let scrubber = scrubber("pusher", password);
        let json = format!(
            "{{\"username\":\"pusher\",\"password\":\"{password}\",\"serveraddress\":\"127.0.0.1:5000\"}}"
        );
        let standard = base64(json.as_bytes());
        let url_safe = standard.replace('+', "-").replace('/', "_");
        for encoded in [
            standard.clone(),
            standard.trim_end_matches('=').to_string(),
            url_safe.clone(),
            url_safe.trim_end_matches('=').to_string(),
        ] {
            for text in [
                format!("X-Registry-Auth: {encoded}\r\n"),
                format!("auth=value-{encoded} end"),
            ] {
                let scrubbed = scrubber.scrub(&text);
                assert!(!scrubbed.contains(&encoded[4..]), "{scrubbed}");
                assert!(scrubbed.contains("***"), "{scrubbed}");
            }
        }
        // Base64 that holds no secret is kept.
        let other = base64(b"{\"username\":\"pusher\",\"password\":\"another\"}");
        assert_eq!(scrubber.scrub(&other), other);
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

    /// A password shorter than `SHORT_SECRET` is masked where it stands
    /// alone, not inside words (`pro***y` for `xx`).
    #[test]
    fn a_short_password_is_masked_as_a_whole_word_only() {
        let short = scrubber("pusher", "xx");
        assert_eq!(
            short.scrub("proxxy said: password xx, \"xx\" or pusher:xx refused"),
            "proxxy said: password ***, \"***\" or pusher:*** refused"
        );
        let long = scrubber("pusher", "xxxx");
        assert_eq!(long.scrub("proxxxxy"), "pro***y");
    }
}
