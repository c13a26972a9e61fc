//! Which targets of a plan a command acts on: `--package`, `--distro` and
//! `--target` narrow the plan, and a name the plan does not hold is an
//! error with the closest one it does, before any work starts.

use crate::diagnostic::suggestion;

use super::{Plan, Target};

/// The names a command line picks targets by; empty lists pick everything.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Packages, e.g. `model-server`.
    pub packages: Vec<String>,
    /// Distros (`debian`) or distro releases (`debian12`).
    pub distros: Vec<String>,
    /// Target names, `PACKAGE:TAG`.
    pub targets: Vec<String>,
}

/// A selection that names something the plan does not hold.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("no {what} `{name}` in the plan")]
pub struct NotInPlan {
    /// `package`, `distro` or `target`.
    pub what: &'static str,
    /// The name as given.
    pub name: String,
    /// The closest name the plan holds.
    #[help]
    pub help: Option<String>,
}

impl NotInPlan {
    /// 2: the command line names something the manifest does not make.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// The targets of `plan` that `selection` names (all when it names none),
/// in plan order.
///
/// # Errors
/// When a name of the selection matches no target of the plan.
pub fn select<'p>(plan: &'p Plan, selection: &Selection) -> Result<Vec<&'p Target>, NotInPlan> {
    let known = |f: fn(&Target) -> String| {
        let mut names: Vec<String> = plan.targets.iter().map(f).collect();
        names.sort();
        names.dedup();
        names
    };
    let packages = known(|t| t.package.clone());
    let mut distros = known(|t| t.distro.clone());
    distros.extend(known(distro_release));
    let names = known(|t| t.name.clone());
    for (what, given, known) in [
        ("package", &selection.packages, &packages),
        ("distro", &selection.distros, &distros),
        ("target", &selection.targets, &names),
    ] {
        if let Some(name) = given.iter().find(|n| !known.contains(n)) {
            return Err(NotInPlan {
                what,
                name: name.clone(),
                help: suggestion(name, known.iter().map(String::as_str)),
            });
        }
    }
    Ok(plan
        .targets
        .iter()
        .filter(|t| selection.packages.is_empty() || selection.packages.contains(&t.package))
        .filter(|t| {
            selection.distros.is_empty()
                || selection
                    .distros
                    .iter()
                    .any(|d| *d == t.distro || *d == distro_release(t))
        })
        .filter(|t| selection.targets.is_empty() || selection.targets.contains(&t.name))
        .collect())
}

/// `debian12`: how paths and `--distro` write a distro release.
fn distro_release(target: &Target) -> String {
    format!("{}{}", target.distro, target.release)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two packages on two Debian releases and one Alpine release, one
    /// Python version: twelve targets.
    fn plan() -> (tempfile::TempDir, Plan) {
        crate::plan::testing::plan_of(
            "packages:\n  model-server:\n    runtime: [debian, alpine]\n  \
             yatai-service:\n    runtime: [debian]\n\
             releases:\n  debian:\n    \"11\":\n      <<: *spec\n      add_to_tags: bullseye\n    \
             \"12\":\n      <<: *spec\n      add_to_tags: bookworm\n  \
             alpine:\n    \"3.19\":\n      <<: *spec\n      add_to_tags: alpine\n",
            &["3.12"],
        )
    }

    fn names(targets: &[&Target]) -> Vec<String> {
        targets.iter().map(|t| t.name.clone()).collect()
    }

    #[test]
    fn an_empty_selection_is_the_whole_plan_in_its_order() {
        let (_dir, plan) = plan();
        let all = select(&plan, &Selection::default()).unwrap();
        assert_eq!(names(&all), names(&plan.targets.iter().collect::<Vec<_>>()));
        assert_eq!(all.len(), 10);
    }

    #[test]
    fn a_distro_picks_all_its_releases_and_a_distro_release_only_that_one() {
        let (_dir, plan) = plan();
        let by_distro = |distro: &str| Selection {
            distros: vec![distro.into()],
            ..Selection::default()
        };
        let debian = select(&plan, &by_distro("debian")).unwrap();
        assert_eq!(debian.len(), 8);
        assert!(debian.iter().all(|t| t.distro == "debian"));
        let bookworm = select(&plan, &by_distro("debian12")).unwrap();
        assert_eq!(bookworm.len(), 4);
        assert!(bookworm.iter().all(|t| t.release == "12"));
    }

    #[test]
    fn the_lists_narrow_together() {
        let (_dir, plan) = plan();
        let selection = Selection {
            packages: vec!["model-server".into()],
            distros: vec!["alpine".into()],
            targets: vec!["model-server:1.3.0-python3.12-alpine-runtime".into()],
        };
        assert_eq!(
            names(&select(&plan, &selection).unwrap()),
            ["model-server:1.3.0-python3.12-alpine-runtime"]
        );
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_closest_known_one() {
        let (_dir, plan) = plan();
        let selection = Selection {
            packages: vec!["model-server".into()],
            distros: vec!["debain".into()],
            ..Selection::default()
        };
        let error = select(&plan, &selection).unwrap_err();
        assert_eq!(error.to_string(), "no distro `debain` in the plan");
        assert!(error.help.unwrap().contains("`debian`"));
    }
}
