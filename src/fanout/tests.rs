use std::collections::HashMap;

use super::*;
use crate::plan::Plan;

/// Two packages (runtime and devel on two Debian releases, runtime on
/// Alpine), two Python versions.
fn plan() -> (tempfile::TempDir, Plan) {
    crate::plan::testing::plan_of(
        "packages:\n  model-server:\n    runtime: [debian, alpine]\n    devel: [debian]\n  \
         yatai-service:\n    runtime: [debian]\n\
         releases:\n  debian:\n    \"11\":\n      <<: *spec\n      add_to_tags: bullseye\n    \
         \"12\":\n      <<: *spec\n      add_to_tags: bookworm\n  \
         alpine:\n    \"3.19\":\n      <<: *spec\n      add_to_tags: alpine\n",
        &["3.11", "3.12"],
    )
}

fn ordered(plan: &Plan) -> Vec<&Target> {
    let all: Vec<&Target> = plan.targets.iter().collect();
    crate::plan::with_dependencies(plan, &all)
}

fn options(group: Group) -> Options {
    Options {
        group,
        max_jobs: GITHUB_MAX_JOBS,
        shard: None,
        build: vec!["bentoml-docker".into(), "build".into()],
    }
}

fn entries(matrix: &GithubMatrix) -> Vec<&Entry> {
    match matrix {
        GithubMatrix::Chains(include) => include.include.iter().collect(),
        GithubMatrix::Layers { layers } => layers.iter().flat_map(|l| &l.include).collect(),
    }
}

/// How many entries name each target.
fn counts<'e>(entries: &[&'e Entry]) -> HashMap<&'e str, usize> {
    let mut counts = HashMap::new();
    for name in entries.iter().flat_map(|e| &e.targets) {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    counts
}

#[test]
fn each_chain_is_one_base_with_everything_built_from_it_in_build_order() {
    let (_dir, plan) = plan();
    let chains = chains(&ordered(&plan));
    // 3 distro releases x 2 packages... model-server on 3, yatai on 2, x 2 Pythons.
    assert_eq!(chains.len(), 10);
    for chain in &chains {
        assert!(chain[0].depends_on.is_none(), "{}", chain[0].name);
        for target in &chain[1..] {
            assert_eq!(target.depends_on.as_deref(), Some(chain[0].name.as_str()));
        }
    }
    let total: usize = chains.iter().map(Vec::len).sum();
    assert_eq!(total, plan.targets.len());
}

#[test]
fn both_groupings_cover_the_plan_exactly_once() {
    let (_dir, plan) = plan();
    for group in [Group::Chain, Group::Layer] {
        let matrix = github_matrix(&ordered(&plan), &options(group)).unwrap();
        let counts = counts(&entries(&matrix));
        assert_eq!(counts.len(), plan.targets.len(), "{group:?}");
        assert!(counts.values().all(|&n| n == 1), "{group:?}: {counts:?}");
    }
}

#[test]
fn layers_put_every_target_one_deeper_than_its_base() {
    let (_dir, plan) = plan();
    let layers = layers(&ordered(&plan));
    assert_eq!(layers.len(), 2);
    assert!(layers[0].iter().all(|t| t.depends_on.is_none()));
    let first: Vec<&str> = layers[0].iter().map(|t| t.name.as_str()).collect();
    assert!(
        layers[1]
            .iter()
            .all(|t| first.contains(&t.depends_on.as_deref().unwrap()))
    );
}

#[test]
fn layers_hold_even_when_children_come_before_their_base() {
    let (_dir, plan) = plan();
    let mut targets = ordered(&plan);
    targets.reverse();
    let layers = layers(&targets);
    assert_eq!(layers.len(), 2);
    assert!(layers[0].iter().all(|t| t.depends_on.is_none()));
}

#[test]
fn a_chain_command_names_every_target_and_pushes_after_building_when_asked() {
    let (_dir, plan) = plan();
    let mut options = options(Group::Chain);
    options.build = ["bentoml-docker", "build", "-m", "my dir/m.yml", "--push"]
        .map(String::from)
        .to_vec();
    let GithubMatrix::Chains(matrix) = github_matrix(&ordered(&plan), &options).unwrap() else {
        panic!("a chain matrix");
    };
    let first = &matrix.include[0];
    assert_eq!(first.name, "model-server debian11 python3.11");
    let targets: String = first.targets.iter().fold(String::new(), |mut line, t| {
        line.push_str(" --target ");
        line.push_str(t);
        line
    });
    assert_eq!(
        first.command,
        format!("bentoml-docker build -m 'my dir/m.yml' --push{targets}")
    );
}

#[test]
fn shards_are_even_and_cover_every_entry_once() {
    for len in [0, 1, 7, 10, 256, 1000] {
        for count in 1..=9 {
            let mut seen = Vec::new();
            for index in 1..=count {
                let part = slice((0..len).collect::<Vec<_>>(), Shard { index, count });
                assert!(part.len() <= len / count + 1 && part.len() >= len / count);
                seen.extend(part);
            }
            assert_eq!(seen, (0..len).collect::<Vec<_>>(), "{len} in {count}");
        }
    }
}

#[test]
fn a_shard_outside_one_to_n_is_refused() {
    assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
    for bad in ["0/3", "4/3", "1/0", "3", "a/3", "1/-2", ""] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
}

#[test]
fn more_jobs_than_the_limit_is_refused_with_how_many_shards_fit() {
    let (_dir, plan) = plan();
    let mut options = options(Group::Chain);
    options.max_jobs = 3;
    let error = github_matrix(&ordered(&plan), &options).unwrap_err();
    let Error::TooManyJobs {
        entries, shards, ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((*entries, *shards), (10, 4));
    assert_eq!(error.exit_code(), 2);
    options.shard = Some(Shard { index: 4, count: 4 });
    let GithubMatrix::Chains(last) = github_matrix(&ordered(&plan), &options).unwrap() else {
        panic!("a chain matrix");
    };
    assert_eq!(last.include.len(), 3);
}

#[test]
fn the_limit_applies_to_each_layer() {
    let (_dir, plan) = plan();
    let mut options = options(Group::Layer);
    // Layer 0: 10 bases; layer 1: 10 runtimes + 4 devels.
    options.max_jobs = 12;
    let error = github_matrix(&ordered(&plan), &options).unwrap_err();
    assert!(
        error.to_string().starts_with("layer 1 has 14 jobs"),
        "{error}"
    );
}

#[test]
fn shell_words_survive_the_shell() {
    assert_eq!(
        shell_word("app:1.3.0-python3.11-bookworm-runtime"),
        "app:1.3.0-python3.11-bookworm-runtime"
    );
    assert_eq!(shell_word("a b"), "'a b'");
    assert_eq!(shell_word("it's"), r"'it'\''s'");
    assert_eq!(shell_word(""), "''");
}

#[test]
fn more_chain_shards_than_jobs_is_refused_as_github_refuses_an_empty_matrix() {
    let (_dir, plan) = plan();
    let mut options = options(Group::Chain);
    options.shard = Some(Shard {
        index: 1,
        count: 11,
    });
    let error = github_matrix(&ordered(&plan), &options).unwrap_err();
    assert!(matches!(
        error,
        Error::EmptyShard {
            count: 11,
            entries: 10
        }
    ));
    options.shard = Some(Shard {
        index: 10,
        count: 10,
    });
    let GithubMatrix::Chains(last) = github_matrix(&ordered(&plan), &options).unwrap() else {
        panic!("a chain matrix");
    };
    assert_eq!(last.include.len(), 1);
}
