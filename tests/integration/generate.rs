//! `generate` and the original flags on the seed-format fixture.

use std::fs;
use std::process::Command;

use crate::test::{BIN, Test};

#[test]
fn seed_flags_generate_the_whole_tree_and_metadata() {
    let test = Test::fixture("seed").args(&["-bv", "0.13.0", "-dm", "-sag"]);
    let output = test.success();
    assert_eq!(
        output.stdout,
        "generated 26 files in 22 directories for 44 targets into `./generated`; wrote `./metadata.json`\n"
    );
    insta::assert_snapshot!("seed_generated", test.tree("generated"));
    insta::assert_snapshot!("seed_metadata", test.read("metadata.json"));
}

#[test]
fn generate_subcommand_writes_the_same_as_the_seed_flags() {
    let legacy = Test::fixture("seed").args(&["-bv", "0.13.0", "-dm"]);
    legacy.success();
    let modern =
        Test::fixture("seed").args(&["generate", "--bentoml-version", "0.13.0", "--dump-metadata"]);
    modern.success();
    assert_eq!(legacy.tree("generated"), modern.tree("generated"));
    assert_eq!(legacy.read("metadata.json"), modern.read("metadata.json"));
}

/// The reference: Jinja2 itself, configured as the original tool configured it.
#[test]
fn templates_render_byte_identical_to_jinja2() {
    let test = Test::fixture("seed").args(&["-bv", "0.13.0", "-dm"]);
    test.success();
    let plan = Test::fixture("seed")
        .args(&["plan", "--json", "-bv", "0.13.0"])
        .success();
    fs::write(test.path().join("plan.json"), plan.stdout).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/jinja2-reference.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .args([script, ".", "plan.json", "metadata.json"])
        .current_dir(test.path())
        .output()
        .expect("python3 with jinja2 is needed (`.ci/run` installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout, "52 files identical to Jinja2's rendering\n");
}

#[test]
fn generation_replaces_the_output_directory_as_a_whole() {
    let test = Test::fixture("seed")
        .file("generated/stale/Dockerfile", "old")
        .args(&["-bv", "0.13.0"]);
    test.success();
    assert!(!test.path().join("generated/stale").exists());
    assert!(
        test.path()
            .join("generated/model-server/debian10/Dockerfile")
            .exists()
    );
    let mut names: Vec<_> = fs::read_dir(test.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["generated", "manifest.yml", "templates", "tools"]);
}

#[test]
fn a_failing_template_leaves_the_previous_tree_untouched() {
    let test = Test::fixture("seed")
        .file("generated/previous/Dockerfile", "kept")
        .file(
            "templates/debian/devel.Dockerfile.j2",
            "FROM {{ metadata.package }}:{{ build_tag }}\nRUN echo {{ metadata.no_such_key }}\n",
        )
        .args(&["-bv", "0.13.0", "-dm"]);
    let output = test.failure(2);
    assert_eq!(test.read("generated/previous/Dockerfile"), "kept");
    assert!(!test.path().join("metadata.json").exists());
    assert_eq!(
        fs::read_dir(test.path()).unwrap().count(),
        4,
        "no staging directory is left"
    );
    insta::assert_snapshot!("undefined_variable", output.stderr);
}

#[test]
fn a_template_that_prints_the_python_version_is_caught() {
    let test = Test::fixture("seed")
        .file(
            "templates/debian/devel.Dockerfile.j2",
            "FROM python:{{ metadata.envars.PYTHON_VERSION }}\n",
        )
        .args(&["-bv", "0.13.0"]);
    let output = test.failure(2);
    insta::assert_snapshot!("python_dependent_template", output.stderr);
}

#[test]
fn dry_run_writes_nothing() {
    let test = Test::fixture("seed").args(&["-bv", "0.13.0", "-dm", "-dr"]);
    let output = test.success();
    assert!(!test.path().join("generated").exists());
    assert!(!test.path().join("metadata.json").exists());
    assert!(output.stdout.ends_with(
        "dry run: would replace `./generated` with 22 directories for 44 targets and write `./metadata.json`\n"
    ));
}

#[test]
fn original_flags_write_output_and_metadata_where_the_original_did() {
    // `-dd` names the output; metadata.json goes to the current directory.
    let test = Test::fixture("seed").args(&["-dd", "out/dockerfiles", "-bv", "0.13.0", "-dm"]);
    test.success();
    let cudnn = test.read("out/dockerfiles/model-server/centos8/cudnn/Dockerfile");
    assert!(
        cudnn.contains("COPY out/dockerfiles/model-server/centos8/cudnn/cuda.repo"),
        "{cudnn}"
    );
    assert!(test.path().join("metadata.json").exists());
    assert!(!test.path().join("out/metadata.json").exists());
}

#[test]
fn a_manifest_elsewhere_generates_into_its_images_repo() {
    let test = Test::new();
    crate::test::copy_dir(
        &crate::test::fixtures().join("seed"),
        &test.path().join("repo"),
    );
    let test = test.args(&[
        "generate",
        "-m",
        "repo/manifest.yml",
        "-b",
        "0.13.0",
        "--dump-metadata",
    ]);
    test.success();
    assert!(
        test.path()
            .join("repo/generated/model-server/centos8/cudnn/cuda.repo")
            .exists()
    );
    assert!(test.path().join("repo/metadata.json").exists());
    // The original's flags keep its behaviour: ./generated in the current directory.
    let test = test.args(&["-mf", "repo/manifest.yml", "-bv", "0.13.0"]);
    test.success();
    assert!(
        test.path()
            .join("generated/model-server/debian10/Dockerfile")
            .exists()
    );
}

#[test]
fn output_that_is_not_generated_is_never_replaced() {
    for dir in ["tools", "templates"] {
        let test = Test::fixture("seed").args(&["-bv", "0.13.0", "-dd", dir]);
        let output = test.failure(2);
        assert!(
            output.stderr.contains("refusing to replace"),
            "{}",
            output.stderr
        );
        assert!(
            test.path()
                .join("tools/model-server/entrypoint.sh")
                .exists()
        );
        assert!(
            test.path()
                .join("templates/debian/base.Dockerfile.j2")
                .exists()
        );
    }
}

#[test]
fn output_that_would_replace_the_images_repo_is_refused() {
    let test = Test::fixture("seed").args(&["-bv", "0.13.0", "-dd", "."]);
    let output = test.failure(2);
    assert!(
        output.stderr.contains("refusing to replace"),
        "{}",
        output.stderr
    );
    assert!(test.path().join("manifest.yml").exists());
}

/// Kill the process at many moments: `generated/` is always the old tree
/// or the new one, complete.
#[test]
fn a_killed_generation_leaves_a_complete_tree() {
    let mut manifest =
        fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    manifest = manifest.replace("  centos:\n", &many_debian_releases(150));
    let test = Test::fixture("seed").manifest(&manifest);
    let generated = test.path().join("generated");
    fs::create_dir_all(generated.join("old")).unwrap();
    fs::write(generated.join("old/Dockerfile"), "old").unwrap();
    let complete_new = {
        let reference = Test::fixture("seed")
            .manifest(&manifest)
            .args(&["-bv", "0.13.0"]);
        reference.success();
        reference.tree("generated")
    };
    for delay_ms in [0, 2, 5, 10, 20, 40, 80] {
        let mut child = Command::new(BIN)
            .args(["-bv", "0.13.0"])
            .current_dir(test.path())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let tree = test.tree("generated");
        assert!(
            tree == "=== generated/old/Dockerfile\nold\n" || tree == complete_new,
            "after {delay_ms} ms the tree is neither the old nor the new one"
        );
    }
}

fn many_debian_releases(n: usize) -> String {
    use std::fmt::Write;
    let mut extra = String::new();
    for i in 0..n {
        let _ = write!(
            extra,
            "    {}:\n      <<: *tmpl_spec\n      templates_dir: templates/debian\n      base_image: debian:buster-slim\n      add_to_tags: \"slim{i}\"\n      cuda_prefix_url: \"ubuntu2004\"\n",
            100 + i
        );
    }
    extra.push_str("  centos:\n");
    extra
}

#[test]
fn regenerating_without_changes_touches_nothing() {
    let test = Test::fixture("seed").args(&["-bv", "0.13.0", "-dm"]);
    test.success();
    let inode =
        |p: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(test.path().join(p)).unwrap());
    let dockerfile = "generated/model-server/debian10/Dockerfile";
    let (before, metadata_before) = (inode(dockerfile), inode("metadata.json"));
    let output = test.success();
    assert_eq!(
        output.stdout,
        "up to date: 26 files in 22 directories for 44 targets in `./generated`; `./metadata.json` is up to date\n"
    );
    assert_eq!(
        (inode(dockerfile), inode("metadata.json")),
        (before, metadata_before)
    );

    // One template changes: the tree is replaced, with every file right.
    let template = test.path().join("templates/alpine/runtime.Dockerfile.j2");
    let text = fs::read_to_string(&template).unwrap();
    fs::write(&template, format!("{text}\n# changed")).unwrap();
    let output = test.success();
    assert!(
        output.stdout.starts_with("generated 26 files"),
        "{}",
        output.stdout
    );
    assert!(
        test.read("generated/model-server/alpine3.14/runtime/Dockerfile")
            .ends_with("# changed")
    );
    let fresh = Test::fixture("seed")
        .file(
            "templates/alpine/runtime.Dockerfile.j2",
            &format!("{text}\n# changed"),
        )
        .args(&["-bv", "0.13.0", "-dm"]);
    fresh.success();
    assert_eq!(test.tree("generated"), fresh.tree("generated"));
}

/// The shipped images repo renders a README per package from its docs template.
#[test]
fn the_shipped_images_repo_documents_each_package() {
    let test = Test::new();
    crate::test::copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("images"),
        test.path(),
    );
    std::fs::remove_dir_all(test.path().join("generated")).unwrap();
    let test = test.args(&["generate"]);
    test.success();
    let readme = test.read("generated/bento-server/README.md");
    assert!(readme.starts_with("# bento-server\n"), "{readme}");
    assert!(
        readme.contains("| ubi 9 | 3.12 | cudnn | `1.4.40-python3.12-ubi9-cudnn` |"),
        "{readme}"
    );
    assert!(
        readme.contains("| alpine 3.20 | 3.13 | devel | `devel-python3.13-alpine3.20` |"),
        "{readme}"
    );
    assert!(!readme.contains("alpine3.20-cudnn"), "alpine has no CUDA");
    let tags = readme
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("-python"))
        .count();
    assert_eq!(tags, 76, "one row per target");
}
