//! From decisions to a bake file: each decided target's build (context,
//! Dockerfile, arguments, labels with its inputs hash) as a bake target,
//! tagged with its local name and its name on every registry given, and
//! wired to its base when the base is in the file.

use std::collections::HashSet;
use std::path::PathBuf;

use super::Decision;
use crate::bake::{BakeFile, BakeTarget, Base, Error, bake_file};
use crate::plan::{Plan, Target};

/// Which decided targets go in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Every target (`export bake`): up to date or not.
    All,
    /// Only the stale ones (what a build hands the builder).
    Stale,
}

/// The bake file of `decisions` (one per target of `targets`, in the same
/// order, as [`super::decide_all`] gives them). `registries` holds,
/// per enabled registry, each package's repository there: every target is
/// also tagged `REPOSITORY:TAG` on each.
///
/// # Errors
/// When a target could not be decided (its reason is said), or the file
/// cannot be made (see [`bake_file`]).
pub fn of_decisions(
    plan: &Plan,
    targets: &[&Target],
    decisions: &[Decision],
    registries: &[Vec<(String, String)>],
    which: Which,
) -> Result<BakeFile, Error> {
    let chosen: Vec<(&Target, &Decision)> = targets
        .iter()
        .copied()
        .zip(decisions)
        .filter(|(_, d)| which == Which::All || d.stale())
        .collect();
    let in_file: HashSet<&str> = chosen.iter().map(|(t, _)| t.name.as_str()).collect();
    let mut given = Vec::with_capacity(chosen.len());
    for (target, decision) in chosen {
        let Some(request) = &decision.request else {
            return Err(Error::Undecided {
                target: target.name.clone(),
                reason: decision
                    .outcome
                    .reason
                    .clone()
                    .unwrap_or_else(|| decision.outcome.status.as_str().to_string()),
            });
        };
        let mut tags = vec![target.name.clone()];
        for repositories in registries {
            if let Some((_, repository)) = repositories.iter().find(|(p, _)| *p == target.package) {
                tags.push(crate::registry::reference::tagged(repository, &target.tag));
            }
        }
        let base = target.depends_on.as_deref().map(|name| {
            if in_file.contains(name) {
                Base::InFile(name.to_string())
            } else {
                Base::Local
            }
        });
        // Absolute: bake resolves a relative context from where it runs.
        let root = request.context.root();
        let context = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        given.push(BakeTarget {
            name: target.name.clone(),
            context,
            dockerfile: PathBuf::from(&request.dockerfile),
            args: request.build_args.iter().cloned().collect(),
            labels: request.labels.iter().cloned().collect(),
            tags,
            platforms: request.platforms.clone(),
            base,
        });
    }
    bake_file(plan, &given)
}
