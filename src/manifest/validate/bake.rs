//! `cache` and `attest`: how BuildKit keeps build cache and which
//! attestations it attaches, read by the bake file.
//!
//! Both are top-level keys, not `release_spec` keys: they describe the
//! builder's registry and the supply-chain policy of the whole release,
//! not a distro, and every `release_spec` key is something templates see
//! (and `metadata.json` records), which these must not change.

use super::grammar::check_reference;
use super::{Checker, Node, Value};
use crate::manifest::{Attest, CACHE_NAME, Cache, CacheMode, Provenance};

const CACHE_KEYS: [&str; 3] = ["from", "to", "mode"];
const ATTEST_KEYS: [&str; 2] = ["provenance", "sbom"];

/// A bake target name standing in for `{name}` when a pattern is checked:
/// every name holds only `a-z`, `0-9`, `-` and `_`.
const SAMPLE_NAME: &str = "model-server_base-python3_11-slim";

impl Checker {
    /// `cache`: `from` and `to` patterns, at least one, and `mode` beside `to`.
    pub(super) fn cache(&mut self, node: &Node) -> Option<Cache> {
        let entries = self.entries(node, "`cache`");
        // An empty `cache:` is reported as naming nothing, below.
        if !matches!(node.value, Value::Map(_) | Value::Null) {
            return None;
        }
        let mut cache = Cache {
            from: None,
            to: None,
            mode: None,
        };
        let mut mode_at = None;
        for (key, value) in entries {
            match &*key.name {
                "from" => cache.from = self.cache_pattern(value, "from"),
                "to" => cache.to = self.cache_pattern(value, "to"),
                "mode" => {
                    mode_at = Some(key.at);
                    cache.mode = self.cache_mode(value);
                }
                _ => self.unknown_key(key, &CACHE_KEYS, "`cache`"),
            }
        }
        let written = |name: &str| entries.iter().any(|(k, _)| &*k.name == name);
        // A misspelt key is reported as such: its suggestion is the fix.
        let misspelt = entries.iter().any(|(k, _)| !CACHE_KEYS.contains(&&*k.name));
        if !written("from") && !written("to") && !misspelt {
            let problem = self
                .problem(node.at, "`cache` names neither `from` nor `to`", "no cache")
                .help(format!(
                    "add e.g. `from: registry.example/cache/images:{CACHE_NAME}` and `to:` the same, or remove `cache`"
                ));
            self.problems.push(problem);
        }
        if let Some(at) = mode_at.filter(|_| !written("to")) {
            let problem = self
                .problem(at, "`cache.mode` without `cache.to`", "exports nothing")
                .help("`mode` says what `to` exports: add `to`, or remove `mode`");
            self.problems.push(problem);
        }
        Some(cache)
    }

    /// A reference pattern: it names the target (else every target would
    /// read and overwrite one cache) and is a reference once it does.
    fn cache_pattern(&mut self, node: &Node, key: &str) -> Option<String> {
        let what = format!("`cache.{key}`");
        let pattern = self.text(node, &what)?;
        if !pattern.contains(CACHE_NAME) {
            let problem = self
                .problem(
                    node.at,
                    format!("{what} `{pattern}` does not hold `{CACHE_NAME}`: every target would share one cache"),
                    "no target name",
                )
                .help(format!(
                    "put the target's name in the reference, e.g. `registry.example/cache/images:{CACHE_NAME}`"
                ));
            self.problems.push(problem);
            return None;
        }
        if let Err(why) = check_reference(&pattern.replace(CACHE_NAME, SAMPLE_NAME)) {
            let problem = self
                .problem(
                    node.at,
                    format!("{what} `{pattern}` is not an image reference: {why}"),
                    "not a reference",
                )
                .help(format!(
                    "write a registry, a lower-case path and a tag, e.g. `registry.example/cache/images:{CACHE_NAME}`"
                ));
            self.problems.push(problem);
            return None;
        }
        Some(pattern)
    }

    fn cache_mode(&mut self, node: &Node) -> Option<CacheMode> {
        let mode = self.text(node, "`cache.mode`")?;
        match mode.as_str() {
            "min" => Some(CacheMode::Min),
            "max" => Some(CacheMode::Max),
            _ => {
                let problem = self
                    .problem(
                        node.at,
                        format!("`cache.mode` `{mode}` is neither `min` nor `max`"),
                        "unknown mode",
                    )
                    .help("`min` exports the image's layers, `max` every layer of every stage");
                self.problems.push(problem);
                None
            }
        }
    }

    /// `attest`: `provenance` (`true`, `false`, `min`, `max`) and `sbom`
    /// (`true`, `false`).
    pub(super) fn attest(&mut self, node: &Node) -> Option<Attest> {
        let entries = self.entries(node, "`attest`");
        if !matches!(node.value, Value::Map(_)) {
            return None;
        }
        let mut attest = Attest {
            provenance: None,
            sbom: None,
        };
        for (key, value) in entries {
            match (&*key.name, &value.value) {
                ("provenance", Value::Bool(true)) => attest.provenance = Some(Provenance::On),
                ("provenance", Value::Bool(false)) => attest.provenance = Some(Provenance::Off),
                ("provenance", Value::Str(mode)) if &**mode == "min" => {
                    attest.provenance = Some(Provenance::Min);
                }
                ("provenance", Value::Str(mode)) if &**mode == "max" => {
                    attest.provenance = Some(Provenance::Max);
                }
                ("provenance", other) => {
                    let problem = self
                        .problem(
                            value.at,
                            format!(
                                "`attest.provenance` is `true`, `false`, `min` or `max`, found {}",
                                found(other)
                            ),
                            "expected true, false, min or max",
                        )
                        .help("`max` records the Dockerfile and build arguments, `min` the inputs only, `true` the builder's default, `false` none");
                    self.problems.push(problem);
                }
                ("sbom", Value::Bool(sbom)) => attest.sbom = Some(*sbom),
                ("sbom", other) => {
                    let problem = self
                        .problem(
                            value.at,
                            format!("`attest.sbom` is `true` or `false`, found {}", found(other)),
                            "expected true or false",
                        )
                        .help("write `sbom: true` to attach an SBOM to each image");
                    self.problems.push(problem);
                }
                _ => self.unknown_key(key, &ATTEST_KEYS, "`attest`"),
            }
        }
        Some(attest)
    }
}

/// A value as a message names it: a scalar quoted, else its kind.
fn found(value: &Value) -> String {
    value
        .scalar_text()
        .map_or_else(|| value.kind().to_string(), |text| format!("`{text}`"))
}
