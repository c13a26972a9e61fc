//! Help, usage errors and exit codes.

use crate::test::Test;

#[test]
fn help_texts() {
    for (name, args) in [
        ("help", &["--help"][..]),
        ("help_generate", &["generate", "--help"][..]),
        ("help_validate", &["validate", "--help"][..]),
        ("help_plan", &["plan", "--help"][..]),
    ] {
        let output = Test::new().args(args).success();
        insta::assert_snapshot!(name, output.stdout);
    }
}

#[test]
fn unknown_flags_are_usage_errors() {
    let output = Test::new().args(&["generate", "--bogus"]).failure(2);
    assert!(output.stderr.contains("--bogus"), "{}", output.stderr);
}

#[test]
fn a_missing_manifest_is_invalid_input() {
    let output = Test::new().args(&["validate"]).failure(2);
    assert!(
        output
            .stderr
            .contains("cannot read manifest `manifest.yml`"),
        "{}",
        output.stderr
    );
}

#[test]
fn pushing_without_an_enabled_registry_fails_before_anything_is_written() {
    let test = Test::fixture("seed").args(&["-bv", "0.13.0", "-pth"]);
    let output = test.failure(2);
    assert!(
        output.stderr.contains("no registry is enabled"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("`HUB_PASSWORD` for `docker.io`"),
        "{}",
        output.stderr
    );
    assert!(!test.path().join("generated").exists());
}

#[test]
fn validate_reports_a_valid_manifest() {
    let output = Test::fixture("seed").args(&["validate"]).success();
    assert_eq!(
        output.stdout,
        "`manifest.yml` is valid: 2 packages, 5 distro releases, 1 registry\n"
    );
}
