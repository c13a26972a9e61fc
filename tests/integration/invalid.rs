//! Every bad manifest under `tests/fixtures/invalid/` gets its exact message.

use crate::test::{Test, copy_dir, fixtures};

#[test]
fn invalid_manifests() {
    insta::glob!("../fixtures/invalid", "*.yml", |path| {
        let test = Test::new().manifest(&std::fs::read_to_string(path).unwrap());
        copy_dir(
            &fixtures().join("seed/templates"),
            &test.path().join("templates"),
        );
        let extra = fixtures().join("invalid/templates");
        if extra.exists() {
            copy_dir(&extra, &test.path().join("templates"));
        }
        let test = test.args(&["validate", "-m", "manifest.yml"]);
        let output = test.failure(2);
        assert!(!test.path().join("generated").exists());
        insta::assert_snapshot!(output.stderr);
    });
}

/// Reports quote the lines around a problem; a secret written where a
/// variable name belongs must not be among them.
#[test]
fn a_secret_in_the_manifest_never_reaches_the_output() {
    let manifest =
        std::fs::read_to_string(fixtures().join("invalid/secret_beside_another_error.yml"))
            .unwrap();
    let test = Test::fixture("seed")
        .manifest(&manifest)
        .args(&["validate"]);
    let output = test.failure(2);
    assert!(
        output.stderr.contains("unknown key `usr`"),
        "{}",
        output.stderr
    );
    assert!(
        !output.stderr.contains("Sup3r") && !output.stdout.contains("Sup3r"),
        "{}",
        output.stderr
    );
}
