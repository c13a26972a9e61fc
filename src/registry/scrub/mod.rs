//! Cleans what a registry or a library says before anyone sees it: every
//! credential in every form it may be echoed (raw, JSON-escaped, percent-
//! encoded, base64 of `user:password`, in any mix of these), the values of
//! `Basic`/`Bearer` headers, and the query strings of URLs (an upload URL's
//! `_state` is a signed token, and no query string helps a reader).

mod forms;
mod tokens;

use super::enabled::Enabled;
pub(crate) use forms::base64;
use forms::{MIN_ENCODED, base64_forms, decode_base64, mostly_text, pattern};
use tokens::{mask_authorization, without_query_strings};

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

#[cfg(test)]
mod tests {
    use super::forms::base64;
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
