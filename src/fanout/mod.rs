//! Fanning a plan out over CI runners: the plan's dependency graph cut into
//! jobs that each keep build order inside them, written as the JSON a
//! GitHub Actions `strategy.matrix` takes.
//!
//! Two cuts: a `chain` is a target built FROM nothing in the plan (a base
//! image) with every target built FROM it, so one job builds a chain in
//! order; a `layer` is every target at one depth of the graph, so jobs of
//! layer `n + 1` run after those of layer `n` (`needs`). [`graph`] draws
//! the same graph, chains coloured, for a reader.

pub mod graph;

use serde::Serialize;

use crate::plan::Target;

/// The most jobs GitHub Actions makes of one matrix.
pub const GITHUB_MAX_JOBS: usize = 256;

/// How targets are grouped into jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// One job per base image, with every target built FROM it.
    Chain,
    /// One matrix per depth of the graph, one job per target in it.
    Layer,
}

/// One slice of the entries: the `i`-th (1-based) of `n` even slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, 1 to `count`.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `i/N`, with 1 <= i <= N.
    fn from_str(text: &str) -> Result<Self, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| "expected `i/N`, e.g. `1/4`".to_string())?;
        let number = |part: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{part}` is not a whole number; expected `i/N`, e.g. `1/4`"))
        };
        let (index, count) = (number(index)?, number(count)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "`{index}/{count}`: the shard must be 1 to N of N slices, N at least 1"
            ));
        }
        Ok(Self { index, count })
    }
}

/// What the matrix is made of, beside the plan.
#[derive(Clone, Debug)]
pub struct Options {
    /// How targets are grouped.
    pub group: Group,
    /// More entries than this (per layer, in layer mode) is an error.
    pub max_jobs: usize,
    /// Keep only this slice of the entries (of each layer).
    pub shard: Option<Shard>,
    /// The command line that builds (and pushes) one entry's targets, all
    /// but the `--target` flags: `bentoml-docker build` with the flags that
    /// make the same plan.
    pub build: Vec<String>,
}

/// One job of the matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The job's title, stable across runs of the same plan.
    pub name: String,
    /// The targets it builds, in build order.
    pub targets: Vec<String>,
    /// The shell command that builds (and pushes) them.
    pub command: String,
}

/// A `strategy.matrix`: `{"include": [...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Include {
    /// The jobs.
    pub include: Vec<Entry>,
}

/// The JSON printed: one matrix (chain), or one per depth (layer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum GithubMatrix {
    /// `--group chain`.
    Chains(Include),
    /// `--group layer`: `{"layers": [{"include": [...]}, ...]}`.
    Layers {
        /// Matrices in build order: layer `n + 1` is built FROM layer `n`.
        layers: Vec<Include>,
    },
}

/// Why no matrix can be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// More jobs than one matrix may hold.
    #[error("{what} has {entries} jobs, more than the {max_jobs} of `--max-jobs`")]
    #[diagnostic(help(
        "split it over {shards} matrices with `--shard 1/{shards}` ... `--shard {shards}/{shards}` (one workflow job each){layer}"
    ))]
    TooManyJobs {
        /// `the matrix` or `layer N`.
        what: String,
        /// How many entries it has.
        entries: usize,
        /// The limit.
        max_jobs: usize,
        /// How many shards bring it under the limit.
        shards: usize,
        /// A word on `--group layer`, where it would help.
        layer: String,
    },
    /// More shards than jobs: some shard would be an empty matrix.
    #[error(
        "`--shard i/{count}` splits a matrix of {entries} jobs {count} ways: some shards would be empty"
    )]
    #[diagnostic(help("use at most {entries} shards, e.g. `--shard 1/{entries}`"))]
    EmptyShard {
        /// The shard count asked for.
        count: usize,
        /// How many entries the matrix has.
        entries: usize,
    },
}

impl Error {
    /// 2: the command line asks for a matrix that cannot be run as it is.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// The targets of `targets` grouped into chains: each starts with a target
/// whose parent is not among them, followed by everything built FROM it,
/// in the order of `targets` (build order).
#[must_use]
pub fn chains<'p>(targets: &[&'p Target]) -> Vec<Vec<&'p Target>> {
    let mut chains: Vec<Vec<&Target>> = Vec::new();
    let mut root_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for target in targets {
        let parent = target
            .depends_on
            .as_deref()
            .and_then(|p| root_of.get(p).copied());
        let chain = parent.unwrap_or_else(|| {
            chains.push(Vec::new());
            chains.len() - 1
        });
        chains[chain].push(target);
        root_of.insert(&target.name, chain);
    }
    chains
}

/// The targets of `targets` by depth: layer 0 holds those whose parent is
/// not among them, layer `n + 1` those built FROM a target of layer `n`.
#[must_use]
pub fn layers<'p>(targets: &[&'p Target]) -> Vec<Vec<&'p Target>> {
    let mut layers: Vec<Vec<&Target>> = Vec::new();
    let mut depth_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for target in in_dependency_order(targets) {
        let depth = target
            .depends_on
            .as_deref()
            .and_then(|p| depth_of.get(p))
            .map_or(0, |d| d + 1);
        if layers.len() <= depth {
            layers.resize_with(depth + 1, Vec::new);
        }
        layers[depth].push(target);
        depth_of.insert(&target.name, depth);
    }
    layers
}

/// `targets` with every parent before its children (the plan's build order
/// already is; this keeps the cut right for any order given).
fn in_dependency_order<'p>(targets: &[&'p Target]) -> Vec<&'p Target> {
    let names: std::collections::HashSet<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let mut placed: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut ordered = Vec::with_capacity(targets.len());
    while ordered.len() < targets.len() {
        let before = ordered.len();
        for target in targets {
            let ready = target
                .depends_on
                .as_deref()
                .is_none_or(|p| !names.contains(p) || placed.contains(p));
            if ready && !placed.contains(target.name.as_str()) {
                placed.insert(&target.name);
                ordered.push(*target);
            }
        }
        if ordered.len() == before {
            // A cycle cannot come from a plan; keep what is left as given.
            ordered.extend(targets.iter().filter(|t| !placed.contains(t.name.as_str())));
        }
    }
    ordered
}

/// The matrix of `targets` (a selection of a plan with what it is built
/// FROM, in build order).
///
/// # Errors
/// When an entry list (a layer's, in layer mode), once sharded, has more
/// than `max_jobs` entries.
pub fn github_matrix(targets: &[&Target], options: &Options) -> Result<GithubMatrix, Error> {
    match options.group {
        Group::Chain => {
            let entries: Vec<Entry> = chains(targets)
                .iter()
                .map(|chain| entry(chain_name(chain[0]), chain, options))
                .collect();
            let include = limited(entries, options, "the matrix".into())?;
            Ok(GithubMatrix::Chains(Include { include }))
        }
        Group::Layer => {
            let layers = layers(targets)
                .iter()
                .enumerate()
                .map(|(depth, layer)| {
                    let entries = layer
                        .iter()
                        .map(|t| entry(t.name.clone(), std::slice::from_ref(t), options))
                        .collect();
                    limited(entries, options, format!("layer {depth}"))
                        .map(|include| Include { include })
                })
                .collect::<Result<_, _>>()?;
            Ok(GithubMatrix::Layers { layers })
        }
    }
}

/// A chain's title: its base image's package, distro release and Python.
fn chain_name(base: &Target) -> String {
    format!(
        "{} {}{} python{}",
        base.package, base.distro, base.release, base.python_version
    )
}

/// The entry that builds `targets`, titled `name`.
fn entry(name: String, targets: &[&Target], options: &Options) -> Entry {
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let with_targets = |words: &[String]| {
        let mut line: Vec<String> = words.iter().map(|w| shell_word(w)).collect();
        for name in &names {
            line.push("--target".into());
            line.push(shell_word(name));
        }
        line.join(" ")
    };
    Entry {
        command: with_targets(&options.build),
        name,
        targets: names,
    }
}

/// The shard of `entries` asked for, refused when over the limit.
fn limited(entries: Vec<Entry>, options: &Options, what: String) -> Result<Vec<Entry>, Error> {
    let total = entries.len();
    let entries = match options.shard {
        // GitHub refuses a matrix without entries: in chain mode, a shard
        // that would be empty is an error; a layer may be smaller than
        // the shard count and be empty in some shards.
        Some(shard) if options.group == Group::Chain && shard.count > total => {
            return Err(Error::EmptyShard {
                count: shard.count,
                entries: total,
            });
        }
        Some(shard) => slice(entries, shard),
        None => entries,
    };
    if entries.len() <= options.max_jobs {
        return Ok(entries);
    }
    Err(Error::TooManyJobs {
        what,
        entries: entries.len(),
        max_jobs: options.max_jobs,
        shards: total.div_ceil(options.max_jobs),
        layer: if options.group == Group::Chain {
            String::new()
        } else {
            "; each layer is sharded alike".into()
        },
    })
}

/// The `index`-th of `count` even, contiguous slices of `entries`: sizes
/// differ by at most one, and the slices together are `entries`, once.
#[must_use]
pub fn slice<T>(entries: Vec<T>, shard: Shard) -> Vec<T> {
    let len = entries.len();
    let start = (shard.index - 1) * len / shard.count;
    let end = shard.index * len / shard.count;
    entries.into_iter().skip(start).take(end - start).collect()
}

/// `word` as the shell reads it back: as is when it holds only safe
/// characters, else single-quoted.
#[must_use]
pub fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests;
