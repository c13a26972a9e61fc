//! `export github-matrix`: the plan cut into CI jobs, checked over the JSON
//! against `plan --json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::test::Test;

/// The shipped images repo's manifest.
fn images_manifest() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("images/manifest.yml")
        .display()
        .to_string()
}

fn json(test: &Test, args: &[&str]) -> Value {
    let mut command = test.command(args);
    let output = command.output().unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Every target name of `plan --json` with `args`.
fn plan_targets(test: &Test, args: &[&str]) -> Vec<String> {
    let plan = json(test, &[&["plan", "--json"], args].concat());
    let mut names: Vec<String> = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The entries of a matrix, whichever grouping.
fn entries(matrix: &Value) -> Vec<Value> {
    match matrix.get("layers") {
        Some(layers) => layers
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| l["include"].as_array().unwrap().clone())
            .collect(),
        None => matrix["include"].as_array().unwrap().clone(),
    }
}

/// How many entries name each target.
fn counts(entries: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in entries {
        for target in entry["targets"].as_array().unwrap() {
            *counts
                .entry(target.as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    counts
}

fn assert_covers_once(test: &Test, args: &[&str]) {
    let wanted = plan_targets(test, args);
    for group in ["chain", "layer"] {
        let matrix = json(
            test,
            &[&["export", "github-matrix", "--group", group], args].concat(),
        );
        let counts = counts(&entries(&matrix));
        assert_eq!(
            counts.keys().cloned().collect::<Vec<_>>(),
            wanted,
            "{group}: not the plan's targets"
        );
        assert!(counts.values().all(|&n| n == 1), "{group}: {counts:?}");
    }
}

#[test]
fn the_matrix_of_the_images_repo_covers_its_plan_once_in_both_groupings() {
    let manifest = images_manifest();
    assert_covers_once(&Test::new(), &["-m", &manifest]);
}

#[test]
fn the_matrix_of_the_build_fixture_covers_its_plan_once_in_both_groupings() {
    assert_covers_once(&Test::fixture("build"), &[]);
}

#[test]
fn the_build_fixture_matrix_in_both_groupings() {
    let test = Test::fixture("build");
    let chain = test
        .command(&["export", "github-matrix", "-b", "1.4.0"])
        .output()
        .unwrap();
    let layer = test
        .command(&["export", "github-matrix", "--group", "layer", "--push"])
        .output()
        .unwrap();
    let pretty = |stdout: &[u8]| {
        let value: Value = serde_json::from_slice(stdout).unwrap();
        serde_json::to_string_pretty(&value).unwrap()
    };
    insta::assert_snapshot!("github_matrix_chain", pretty(&chain.stdout));
    insta::assert_snapshot!("github_matrix_layer_push", pretty(&layer.stdout));
}

#[test]
fn shards_of_the_images_matrix_hold_every_entry_once() {
    let manifest = images_manifest();
    let test = Test::new();
    for group in ["chain", "layer"] {
        let whole = entries(&json(
            &test,
            &["export", "github-matrix", "-m", &manifest, "--group", group],
        ));
        for count in [1, 2, 3, 7] {
            let mut parts = Vec::new();
            for index in 1..=count {
                let shard = format!("{index}/{count}");
                let part = entries(&json(
                    &test,
                    &[
                        "export",
                        "github-matrix",
                        "-m",
                        &manifest,
                        "--group",
                        group,
                        "--shard",
                        &shard,
                    ],
                ));
                // Even: sizes differ by at most one.
                assert!(part.len() <= whole.len() / count + 1, "{group} {shard}");
                parts.extend(part);
            }
            let name = |e: &Value| e["name"].as_str().unwrap().to_string();
            let mut got: Vec<String> = parts.iter().map(name).collect();
            let mut want: Vec<String> = whole.iter().map(name).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{group} in {count} shards");
        }
    }
}

#[test]
fn a_shard_out_of_range_is_a_usage_error() {
    for shard in ["0/2", "3/2", "1/0", "two"] {
        let output = Test::fixture("build")
            .args(&["export", "github-matrix", "--shard", shard])
            .failure(2);
        assert!(output.stderr.contains("--shard"), "{}", output.stderr);
    }
}

/// The build fixture with 300 Python versions: 300 chains, over GitHub's 256.
fn scaled() -> Test {
    let manifest =
        std::fs::read_to_string(crate::test::fixtures().join("build/manifest.yml")).unwrap();
    let versions: Vec<String> = (0..300).map(|minor| format!("\"3.{minor}\"")).collect();
    let manifest = manifest.replace(
        "python_versions: [\"3.11\", \"3.13\"]",
        &format!("python_versions: [{}]", versions.join(", ")),
    );
    assert!(manifest.contains("\"3.299\""));
    Test::fixture("build").manifest(&manifest)
}

#[test]
fn more_than_256_jobs_is_refused_with_how_to_shard() {
    let test = scaled();
    let output = test.args(&["export", "github-matrix"]).failure(2);
    assert!(
        output
            .stderr
            .contains("the matrix has 300 jobs, more than the 256"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("`--shard 1/2` ... `--shard 2/2`"),
        "{}",
        output.stderr
    );
    let test = scaled();
    for shard in ["1/2", "2/2"] {
        let part = entries(&json(&test, &["export", "github-matrix", "--shard", shard]));
        assert_eq!(part.len(), 150);
    }
}

#[test]
fn the_limit_holds_per_layer() {
    let test = scaled();
    let output = test
        .args(&["export", "github-matrix", "--group", "layer"])
        .failure(2);
    assert!(
        output.stderr.contains("layer 0 has 300 jobs"),
        "{}",
        output.stderr
    );
}

/// Images of several platforms need an engine that builds them: the jobs
/// of `images/` (which declares linux/amd64 and linux/arm64) build with
/// bake, unless `--engine` says otherwise; the build fixture's (one
/// platform) keep the build's default.
#[test]
fn jobs_of_multi_platform_images_build_with_bake_unless_told_otherwise() {
    let manifest = images_manifest();
    let commands = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["export", "github-matrix", "-m", manifest.as_str()];
        args.extend(extra);
        let output = Test::new().command(&args).output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let matrix: Value = serde_json::from_slice(&output.stdout).unwrap();
        matrix["include"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["command"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(commands(&[]).iter().all(|c| c.contains(" --engine bake ")));
    assert!(
        commands(&["--engine", "buildah"])
            .iter()
            .all(|c| c.contains(" --engine buildah ") && !c.contains("bake"))
    );
    let fixture = Test::fixture("build");
    let output = fixture
        .command(&["export", "github-matrix"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&output.stdout).contains("--engine"));
}
