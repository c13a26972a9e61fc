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

const PUSH_MANIFEST: &str = "repository:
  registry.example.com:
    only_if: PUSH_ENABLED
    user: PUSH_USER
    pwd: PUSH_PASSWORD
    registry:
      model-server: registry.example.com/org/model-server
";

#[test]
fn a_missing_credential_variable_is_named_and_no_value_is_shown() {
    let manifest =
        std::fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    let manifest = manifest.replacen(
        "repository:\n",
        &format!("{PUSH_MANIFEST}  old:\n    only_if: OLD_REGISTRY_ENABLED\n"),
        1,
    );
    let test = Test::fixture("seed").manifest(&manifest);
    let output = std::process::Command::new(crate::test::BIN)
        .args(["push", "-b", "0.13.0", "--dry-run"])
        .current_dir(test.path())
        .env("NO_COLOR", "1")
        .env("PUSH_ENABLED", "1")
        .env("PUSH_PASSWORD", "do-not-print-me")
        .env_remove("PUSH_USER")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("needs the environment variable `PUSH_USER`")
            && stderr.contains("which is not set"),
        "{stderr}"
    );
    assert!(!stderr.contains("do-not-print-me"));
}

#[test]
fn push_dry_run_shows_where_each_image_goes_and_which_variables_hold_credentials() {
    let manifest =
        std::fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    let manifest = manifest.replacen(
        "repository:\n",
        &format!("{PUSH_MANIFEST}  old:\n    only_if: OLD_REGISTRY_ENABLED\n"),
        1,
    );
    let test = Test::fixture("seed").manifest(&manifest);
    let output = std::process::Command::new(crate::test::BIN)
        .args([
            "push",
            "-b",
            "0.13.0",
            "--dry-run",
            "-r",
            "runtime",
            "-p",
            "3.8",
            "--package",
            "model-server",
        ])
        .current_dir(test.path())
        .env("PUSH_ENABLED", "1")
        .env("PUSH_USER", "someone")
        .env("PUSH_PASSWORD", "do-not-print-me")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.lines().any(
            |l| l.starts_with("model-server:0.13.0-python3.8-slim-runtime ")
                && l.contains(
                    " registry.example.com/org/model-server:0.13.0-python3.8-slim-runtime "
                )
                && l.ends_with("PUSH_USER, PUSH_PASSWORD")
        ),
        "{stdout}"
    );
    assert!(stdout.contains("dry run: would push 10 images"), "{stdout}");
    assert!(!stdout.contains("do-not-print-me") && !stdout.contains("someone"));
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definition() {
    let bash = Test::new().args(&["completions", "bash"]).success().stdout;
    assert!(
        bash.contains("bentoml-docker") && bash.contains("--keep-going"),
        "{bash}"
    );
    let zsh = Test::new().args(&["completions", "zsh"]).success().stdout;
    assert!(zsh.starts_with("#compdef bentoml-docker"), "{zsh}");
    let man = Test::new().args(&["man"]).success().stdout;
    assert!(
        man.contains(".TH bentoml-docker 1") && man.contains("generate"),
        "{man}"
    );
}
