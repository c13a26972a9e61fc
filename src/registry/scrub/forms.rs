//! The ways a secret may be written where it is echoed: base64 of it (and
//! of `user:secret`), and per character percent-encoding, JSON, Go, Python
//! and HTML escapes.

/// Base64 of `secret` as registries and HTTP libraries write it: standard
/// and URL-safe alphabets, with and without padding.
pub(super) fn base64_forms(secret: &[u8]) -> Vec<String> {
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
pub(super) const MIN_ENCODED: usize = 8;

/// The bytes `digits` encode in base64, in either alphabet, without
/// padding; `None` when they cannot be base64.
pub(super) fn decode_base64(digits: &str) -> Option<Vec<u8>> {
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
pub(super) fn mostly_text(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let noise = text
        .chars()
        .filter(|&c| c == char::REPLACEMENT_CHARACTER || (c.is_control() && !c.is_whitespace()))
        .count();
    (noise * 10 <= text.chars().count()).then(|| text.into_owned())
}

pub(crate) fn base64(bytes: &[u8]) -> String {
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
pub(super) fn pattern(secret: &str) -> Vec<Vec<Vec<u8>>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base64_here_is_the_standard_one() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"u:p\xff"), "dTpw/w==");
    }
}
