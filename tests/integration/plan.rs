//! `plan`, and how the command line selects the matrix.

use crate::test::Test;

#[test]
fn plan_table_lists_targets_in_build_order() {
    let output = Test::fixture("seed")
        .args(&["plan", "-bv", "0.13.0"])
        .success();
    insta::assert_snapshot!("seed_plan_table", output.stdout);
}

#[test]
fn plan_json_has_every_target_field() {
    let output = Test::fixture("seed")
        .args(&["plan", "--json", "-bv", "0.13.0", "-pv", "3.8"])
        .success();
    insta::assert_snapshot!("seed_plan_json", output.stdout);
}

/// The original accepted `-pv` but crashed on it.
#[test]
fn python_version_flag_is_repeatable() {
    let test = Test::fixture("seed").args(&[
        "-bv", "1.0.0", "-pv", "3.9", "-pv", "3.10", "-dm", "-r", "runtime",
    ]);
    test.success();
    let metadata: serde_json::Value = serde_json::from_str(&test.read("metadata.json")).unwrap();
    let names: Vec<&String> = metadata.as_object().unwrap().keys().collect();
    assert!(
        names.contains(&&"model-server:1.0.0-python3.10-slim-runtime".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&&"model-server:base-python3.9-alpine".to_string()));
    assert!(
        names
            .iter()
            .all(|n| n.contains("python3.9") || n.contains("python3.10"))
    );
    assert!(
        names
            .iter()
            .all(|n| !n.contains("devel") && !n.contains("cudnn")),
        "{names:?}"
    );
}

#[test]
fn manifest_python_versions_are_the_default() {
    let manifest =
        std::fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    let manifest = manifest.replacen("---\n", "---\npython_versions: [3.10, \"3.11\"]\n", 1);
    let output = Test::fixture("seed")
        .manifest(&manifest)
        .args(&["plan", "-bv", "1.0.0"])
        .success();
    assert!(output.stdout.contains("model-server:base-python3.10-slim"));
    assert!(output.stdout.contains("model-server:base-python3.11-slim"));
    assert!(!output.stdout.contains("python3.7"));
}

#[test]
fn unknown_cuda_version_is_a_usage_error_with_a_suggestion() {
    let output = Test::fixture("seed")
        .args(&["plan", "-bv", "1.0.0", "-cv", "11.3.2"])
        .failure(2);
    insta::assert_snapshot!("unknown_cuda_version", output.stderr);
}

#[test]
fn missing_bentoml_version_is_a_usage_error() {
    let output = Test::fixture("seed").args(&["-dm"]).failure(2);
    assert!(
        output.stderr.contains("no BentoML version given"),
        "{}",
        output.stderr
    );
}

#[test]
fn bad_python_version_on_the_command_line_is_a_usage_error() {
    let output = Test::fixture("seed")
        .args(&["plan", "-bv", "1.0.0", "-pv", "three"])
        .failure(2);
    assert!(
        output.stderr.contains("`three` is not a Python version"),
        "{}",
        output.stderr
    );
}

/// An empty plan would empty `generated/`.
#[test]
fn an_empty_plan_is_refused_and_writes_nothing() {
    let test = Test::fixture("seed")
        .manifest("packages: {}\nreleases: {}\n")
        .file("generated/model-server/debian10/Dockerfile", "kept")
        .args(&["-bv", "1.0.0"]);
    let output = test.failure(2);
    assert!(
        output.stderr.contains("the plan has no targets"),
        "{}",
        output.stderr
    );
    assert_eq!(
        test.read("generated/model-server/debian10/Dockerfile"),
        "kept"
    );
}

/// absl accepted `--r` as well as `-r`, and a repeated flag (the last wins).
#[test]
fn original_flag_spellings_and_repeats_are_accepted() {
    let output = Test::fixture("seed")
        .args(&["-bv", "0.1.0", "-bv", "0.13.0", "--r", "runtime", "-dr"])
        .success();
    assert!(
        output
            .stdout
            .contains("model-server:0.13.0-python3.8-slim-runtime"),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("devel"), "{}", output.stdout);
}

/// `cache` and `attest` validate and reach the plan, which the bake file
/// is made from.
#[test]
fn the_plan_holds_the_manifests_cache_and_attest() {
    let manifest =
        std::fs::read_to_string(crate::test::fixtures().join("build/manifest.yml")).unwrap();
    let manifest = format!(
        "{manifest}\ncache:\n  from: 127.0.0.1:5000/cache:{{name}}\n  to: 127.0.0.1:5000/cache:{{name}}\n  mode: max\nattest:\n  provenance: max\n  sbom: false\n"
    );
    let output = Test::fixture("build")
        .manifest(&manifest)
        .args(&["plan", "--json"])
        .success();
    let plan: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(
        plan["cache"],
        serde_json::json!({
            "from": "127.0.0.1:5000/cache:{name}",
            "to": "127.0.0.1:5000/cache:{name}",
            "mode": "max"
        })
    );
    assert_eq!(
        plan["attest"],
        serde_json::json!({"provenance": "max", "sbom": false})
    );
}
