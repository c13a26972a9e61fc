//! The plan as a bake file: what `docker buildx bake` reads to build the
//! matrix on any BuildKit builder (local, a remote `buildkitd`, or many
//! pods of a Kubernetes deployment), in bake's documented JSON form.
//!
//! This stage is pure: the caller computes each target's context, build
//! arguments, labels (the inputs hash among them) and tags, and says which
//! bases are in the file; [`bake_file`] names the targets and groups (see
//! [`names`]), wires each dependent to its base through `contexts`, and
//! escapes every string the way bake's parser needs. Everything is kept in
//! the order it was given, so the same plan always gives the same file.
//!
//! Bake reads JSON strings as HCL templates: `${...}` interpolates and
//! `%{...}` is a directive. A literal `${` or `%{` in any value (a label
//! from a commit message, a build argument) is written `$${` or `%%{`, so
//! bake reads back exactly what the plan holds.

mod cache;
pub mod names;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::plan::{self, Plan};

/// A bake file: its groups and targets, keyed by name, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BakeFile {
    /// Groups by name: `default` first, then one per package, release type
    /// and distro, in the order the targets first name them.
    #[serde(default)]
    pub group: IndexMap<String, GroupEntry>,
    /// Targets by name, in the order they were given.
    #[serde(default)]
    pub target: IndexMap<String, TargetEntry>,
}

impl BakeFile {
    /// The file as bake reads it: pretty JSON ending with a newline.
    ///
    /// # Panics
    /// Never: a bake file is strings, lists and maps with string keys,
    /// which JSON always holds.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut json =
            serde_json::to_string_pretty(self).expect("a bake file is strings, lists and maps");
        json.push('\n');
        json
    }
}

/// A group: targets built together when the group is named.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEntry {
    /// Target names.
    pub targets: Vec<String>,
}

/// One image build, in bake's own keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct TargetEntry {
    /// The build context: the images repo.
    pub context: String,
    /// The Dockerfile, relative to the context.
    pub dockerfile: String,
    /// Build arguments.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub args: IndexMap<String, String>,
    /// Image labels.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// Every name the image gets.
    pub tags: Vec<String>,
    /// Named contexts: the image reference of a `FROM` line to
    /// `target:<name>`, so that BuildKit builds the base first and never
    /// looks it up in a registry.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub contexts: IndexMap<String, String>,
    /// Where build cache is imported from (`type=registry,ref=...`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    /// Where build cache is exported to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_to: Vec<String>,
    /// Attestations (`type=provenance,mode=max`, `type=sbom`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attest: Vec<String>,
    /// Platforms; the builder's own when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Where the image goes (`type=image,push=true`, `type=docker`); the
    /// builder's default, or the command line's `--push`/`--load`, when
    /// empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
}

/// A plan target to put in the file, with what the caller computed for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BakeTarget {
    /// The plan target's name, `PACKAGE:TAG`.
    pub name: String,
    /// The build context directory (the images repo).
    pub context: PathBuf,
    /// The Dockerfile, relative to `context` (bake resolves it there).
    pub dockerfile: PathBuf,
    /// Build arguments.
    pub args: IndexMap<String, String>,
    /// Labels: the OCI labels and the inputs hash.
    pub labels: IndexMap<String, String>,
    /// The local name, then the name on every enabled registry.
    pub tags: Vec<String>,
    /// Platforms; empty for the builder's own.
    pub platforms: Vec<String>,
    /// Where the base it is built FROM comes from; `None` for a target
    /// built FROM an image outside the plan.
    pub base: Option<Base>,
}

/// Where a dependent target's base image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// The base is built by this file: the plan name (`PACKAGE:TAG`) of its
    /// target, which must be among the targets given.
    InFile(String),
    /// The base is not in the file (up to date, or outside the selection):
    /// BuildKit uses the image as it finds it.
    Local,
}

/// Why a bake file cannot be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// Two plan targets whose names map to one bake target name.
    #[error("`{first}` and `{second}` would both be bake target `{name}`")]
    #[diagnostic(help(
        "bake names keep the letters, digits and `-` of `PACKAGE:TAG` (lower-cased) and write `_` for anything else: make the tags differ in more than case or punctuation (`add_to_tags`)"
    ))]
    TargetCollision {
        /// The first plan target.
        first: String,
        /// The second.
        second: String,
        /// The bake name they share.
        name: String,
    },
    /// Two packages, release types or distros that map to one group name.
    #[error("{kind} `{first}` and `{second}` would both be bake group `{name}`")]
    #[diagnostic(help(
        "bake group names keep the letters, digits and `-` of a name (lower-cased) and write `-` for anything else: rename one of them"
    ))]
    GroupCollision {
        /// `package`, `release type` or `distro`.
        kind: &'static str,
        /// The first name.
        first: String,
        /// The second.
        second: String,
        /// The group name they share.
        name: String,
    },
    /// A target that the plan does not have.
    #[error("`{name}` is not a target of the plan")]
    NotInPlan {
        /// The name given.
        name: String,
    },
    /// A target given twice.
    #[error("`{name}` is given twice")]
    Duplicate {
        /// The plan target's name.
        name: String,
    },
    /// A base said to be in the file that is not among the targets.
    #[error("`{target}` is built FROM `{base}`, which is not in the bake file")]
    BaseNotInFile {
        /// The dependent target.
        target: String,
        /// Its base.
        base: String,
    },
    /// A base in the file that is not the one the plan builds FROM.
    #[error("`{target}` is built FROM `{from}`, not from `{base}`")]
    WrongBase {
        /// The dependent target.
        target: String,
        /// What the plan builds it FROM.
        from: String,
        /// The base given.
        base: String,
    },
    /// A `cache` pattern that is no reference once it holds the target's name.
    #[error("cache reference `{reference}` of `{target}` is not an image reference: {why}")]
    #[diagnostic(help(
        "bake target names can be long: put `{{name}}` where a long name fits (the tag holds 128 characters), or shorten `add_to_tags`"
    ))]
    BadCacheReference {
        /// The target.
        target: String,
        /// The reference made from the pattern.
        reference: String,
        /// What is wrong.
        why: String,
    },
    /// A target whose build is not known: its Dockerfile cannot be read,
    /// or its base failed.
    #[error("`{target}` cannot be put in a bake file: {reason}")]
    Undecided {
        /// The target.
        target: String,
        /// Why.
        reason: String,
    },
    /// A path that bake could not be given as text.
    #[error("path `{path}` of `{target}` is not UTF-8")]
    NotUtf8 {
        /// The target.
        target: String,
        /// The path.
        path: PathBuf,
    },
}

impl Error {
    /// 2 for names the manifest makes collide (the user renames), 1 for
    /// the rest.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::TargetCollision { .. }
            | Self::GroupCollision { .. }
            | Self::BadCacheReference { .. } => 2,
            _ => 1,
        }
    }
}

/// The bake file that builds `targets`, in their order.
///
/// Each target's `cache-from`, `cache-to` and `attest` come from the
/// manifest's `cache` and `attest`, which the plan holds.
///
/// # Errors
/// When two targets or groups would share a name, a target is not in the
/// plan or is given twice, a base in the file is missing or is not the one
/// the plan builds FROM, a cache reference made for a target is not one,
/// or a path is not UTF-8.
pub fn bake_file(plan: &Plan, targets: &[BakeTarget]) -> Result<BakeFile, Error> {
    let planned: HashMap<&str, &plan::Target> =
        plan.targets.iter().map(|t| (t.name.as_str(), t)).collect();
    let names = bake_names(&planned, targets)?;
    let mut file = BakeFile::default();
    for given in targets {
        let target = planned[given.name.as_str()];
        let name = &names[given.name.as_str()];
        let mut entry = entry(given, target, &names)?;
        if let Some(cache) = &plan.cache {
            cache::fill(&mut entry, cache, name, &given.name)?;
        }
        if let Some(attest) = &plan.attest {
            entry.attest = cache::attestations(attest);
        }
        file.target.insert(name.clone(), entry);
    }
    file.group = groups(targets.iter().map(|t| planned[t.name.as_str()]), &names)?;
    Ok(file)
}

/// Plan name to bake name, for every target given.
fn bake_names<'a>(
    planned: &HashMap<&str, &plan::Target>,
    targets: &'a [BakeTarget],
) -> Result<HashMap<&'a str, String>, Error> {
    let mut names: HashMap<&str, String> = HashMap::new();
    let mut owners: HashMap<String, &str> = HashMap::new();
    for given in targets {
        if !planned.contains_key(given.name.as_str()) {
            return Err(Error::NotInPlan {
                name: given.name.clone(),
            });
        }
        let name = names::target_name(&given.name);
        if let Some(first) = owners.get(&name) {
            return Err(if *first == given.name {
                Error::Duplicate {
                    name: given.name.clone(),
                }
            } else {
                Error::TargetCollision {
                    first: (*first).to_string(),
                    second: given.name.clone(),
                    name,
                }
            });
        }
        owners.insert(name.clone(), &given.name);
        names.insert(&given.name, name);
    }
    Ok(names)
}

fn entry(
    given: &BakeTarget,
    target: &plan::Target,
    names: &HashMap<&str, String>,
) -> Result<TargetEntry, Error> {
    let path = |path: &Path| {
        path.to_str().map(escape).ok_or_else(|| Error::NotUtf8 {
            target: given.name.clone(),
            path: path.to_path_buf(),
        })
    };
    Ok(TargetEntry {
        context: path(&given.context)?,
        dockerfile: path(&given.dockerfile)?,
        args: escape_map(&given.args),
        labels: escape_map(&given.labels),
        tags: given.tags.iter().map(|t| escape(t)).collect(),
        contexts: contexts(given, target, names)?,
        platforms: given.platforms.iter().map(|p| escape(p)).collect(),
        ..TargetEntry::default()
    })
}

/// A dependent whose base is in the file gets the exact reference of its
/// `FROM` line mapped to the base's target.
fn contexts(
    given: &BakeTarget,
    target: &plan::Target,
    names: &HashMap<&str, String>,
) -> Result<IndexMap<String, String>, Error> {
    let Some(Base::InFile(base)) = &given.base else {
        return Ok(IndexMap::new());
    };
    if target.depends_on.as_deref() != Some(base.as_str()) {
        return Err(Error::WrongBase {
            target: given.name.clone(),
            from: target.from.clone(),
            base: base.clone(),
        });
    }
    let Some(base_name) = names.get(base.as_str()) else {
        return Err(Error::BaseNotInFile {
            target: given.name.clone(),
            base: base.clone(),
        });
    };
    Ok(IndexMap::from([(
        escape(&target.from),
        format!("target:{base_name}"),
    )]))
}

/// `default`, then a group per package, per release type and per distro,
/// each kind in the order the targets first name them.
fn groups<'a>(
    targets: impl Iterator<Item = &'a plan::Target>,
    names: &HashMap<&str, String>,
) -> Result<IndexMap<String, GroupEntry>, Error> {
    let mut all = GroupEntry::default();
    let mut kinds: [Kind; 3] = [
        Kind::new("package"),
        Kind::new("release type"),
        Kind::new("distro"),
    ];
    for target in targets {
        let name = &names[target.name.as_str()];
        let [packages, release_types, distros] = &mut kinds;
        packages.add(&target.package, names::package_group(&target.package), name)?;
        release_types.add(
            target.release_type.as_str(),
            names::release_type_group(target.release_type.as_str()),
            name,
        )?;
        distros.add(&target.distro, names::distro_group(&target.distro), name)?;
        all.targets.push(name.clone());
    }
    let mut groups = IndexMap::from([(names::DEFAULT_GROUP.to_string(), all)]);
    for kind in kinds {
        groups.extend(
            kind.groups
                .into_iter()
                .map(|(group, (_, entry))| (group, entry)),
        );
    }
    Ok(groups)
}

/// The groups of one kind (packages, release types or distros), each with
/// the name it was made from: two names that map to one group are told
/// apart from one name seen again.
struct Kind {
    kind: &'static str,
    groups: IndexMap<String, (String, GroupEntry)>,
}

impl Kind {
    fn new(kind: &'static str) -> Self {
        Self {
            kind,
            groups: IndexMap::new(),
        }
    }

    fn add(&mut self, source: &str, group: String, target: &str) -> Result<(), Error> {
        if let Some((first, _)) = self.groups.get(&group).filter(|(s, _)| s != source) {
            return Err(Error::GroupCollision {
                kind: self.kind,
                first: first.clone(),
                second: source.to_string(),
                name: group,
            });
        }
        let (_, entry) = self
            .groups
            .entry(group)
            .or_insert_with(|| (source.to_string(), GroupEntry::default()));
        entry.targets.push(target.to_string());
        Ok(())
    }
}

/// `text` with every `${` and `%{` written as bake reads them literally.
#[must_use]
pub fn escape(text: &str) -> String {
    text.replace("${", "$${").replace("%{", "%%{")
}

fn escape_map(map: &IndexMap<String, String>) -> IndexMap<String, String> {
    map.iter().map(|(k, v)| (escape(k), escape(v))).collect()
}

#[cfg(test)]
mod tests;
