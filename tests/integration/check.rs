//! `check`: what generation wrote must be current, parse, and name only
//! images and files that exist.

use crate::test::Test;

fn generated(test: Test) -> Test {
    let test = test.args(&["generate", "-b", "0.13.0"]);
    test.success();
    test.args(&["check", "-b", "0.13.0"])
}

#[test]
fn check_passes_on_the_seed_fixture() {
    let output = generated(Test::fixture("seed")).success();
    assert_eq!(
        output.stdout,
        "`./generated` is up to date; its 22 Dockerfiles parse, and every FROM and COPY source exists\n"
    );
}

#[test]
fn check_reports_a_stale_generated_directory() {
    let test = generated(Test::fixture("seed"));
    let template = test.path().join("templates/debian/devel.Dockerfile.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}\nRUN true")).unwrap();
    let output = test.failure(2);
    assert!(
        output.stderr.contains("`./generated` is stale"),
        "{}",
        output.stderr
    );
}

/// One broken rule per template; each must be reported, at its line.
#[test]
fn check_reports_each_broken_rule() {
    let test = Test::fixture("seed")
        .file("templates/debian/devel.Dockerfile.j2", "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nCOPY tools/missing.sh /usr/local/bin/\n")
        .file("templates/rhel/devel.Dockerfile.j2", "FROM almalinux:9\nRUN true\n")
        .file("templates/alpine/runtime.Dockerfile.j2", "FROM {{ metadata.package }}:base-python$PY-alpine\nRUN true\n")
        .file("templates/rhel/runtime.Dockerfile.j2", "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nRUN\n");
    let output = generated(test).failure(2);
    insta::assert_snapshot!("check_broken_rules", output.stderr);
}
