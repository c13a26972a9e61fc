//! `docs/ci/github-actions.yml`, the example workflow: it parses, its jobs
//! chain check -> matrix -> build, and every `bentoml-docker` command its
//! steps run (the matrix's own commands included) is one `--help` lists,
//! with options that command's `--help` lists.

use std::path::Path;

use serde_json::Value;

use crate::test::Test;

fn workflow() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci/github-actions.yml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What `bentoml-docker WORDS --help` prints.
fn help(words: &[&str]) -> String {
    let args = [words, &["--help"]].concat();
    let output = Test::new().command(&args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The subcommands a `--help` lists under `Commands:`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("    "))
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The first entry's command of the images repo's matrix: what a build job
/// runs for `${{ matrix.command }}`.
fn a_matrix_command() -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/manifest.yml");
    let manifest = manifest.to_str().unwrap();
    let output = Test::new()
        .command(&["export", "github-matrix", "-m", manifest, "--push"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let matrix: Value = serde_json::from_slice(&output.stdout).unwrap();
    matrix["include"][0]["command"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every `run:` script of the workflow, `${{ matrix.command }}` replaced
/// by a real one and other expressions by a word.
fn scripts(workflow: &Value) -> Vec<String> {
    let command = a_matrix_command();
    let mut scripts = Vec::new();
    for job in workflow["jobs"].as_object().unwrap().values() {
        for step in job["steps"].as_array().unwrap() {
            if let Some(run) = step.get("run").and_then(Value::as_str) {
                let mut script = run.replace("${{ matrix.command }}", &command);
                while let Some(start) = script.find("${{") {
                    let end = script[start..].find("}}").unwrap() + start + 2;
                    script.replace_range(start..end, "EXPRESSION");
                }
                scripts.push(script);
            }
        }
    }
    scripts
}

/// The `bentoml-docker ...` commands of `script`, as words.
fn invocations(script: &str) -> Vec<Vec<String>> {
    script
        .split(['\n', ';', '|', '&', '(', ')', '`'])
        .map(|part| {
            part.split_whitespace()
                .map(|w| w.trim_matches(['"', '\'']).to_string())
                .skip_while(|w| w != "bentoml-docker")
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .collect()
}

#[test]
fn the_example_workflow_runs_only_documented_commands_and_options() {
    let workflow = workflow();
    let top = subcommands(&help(&[]));
    let mut seen = Vec::new();
    for script in scripts(&workflow) {
        for words in invocations(&script) {
            let command = &words[1];
            assert!(
                top.contains(command),
                "`{command}` is not a command: {words:?}"
            );
            let mut path = vec![command.as_str()];
            let nested = subcommands(&help(&path));
            if !nested.is_empty() {
                let sub = &words[2];
                assert!(nested.contains(sub), "`{command} {sub}` is not a command");
                path.push(sub);
            }
            let options = help(&path);
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                let flag = flag.split('=').next().unwrap();
                assert!(
                    options.contains(&format!("{flag} ")) || options.contains(&format!("{flag}\n")),
                    "`{}` has no `{flag}`",
                    path.join(" ")
                );
            }
            seen.push(path.join(" "));
        }
    }
    for wanted in ["validate", "check", "export github-matrix", "build"] {
        assert!(
            seen.iter().any(|s| s == wanted),
            "no `{wanted}` in {seen:?}"
        );
    }
    // From main, a build job pushes, and skips what a registry holds.
    let command = a_matrix_command();
    assert!(command.contains(" --skip-pushed --push "), "{command}");
}

#[test]
fn the_example_workflow_feeds_the_matrix_job_output_to_the_build_matrix() {
    let workflow = workflow();
    let jobs = &workflow["jobs"];
    let build = &jobs["build"];
    assert_eq!(
        build["strategy"]["matrix"].as_str(),
        Some("${{ fromJSON(needs.matrix.outputs.matrix) }}")
    );
    assert!(
        build["needs"]
            .as_array()
            .unwrap()
            .contains(&Value::from("matrix"))
    );
    assert_eq!(build["name"].as_str(), Some("${{ matrix.name }}"));
    let matrix = &jobs["matrix"];
    assert_eq!(matrix["needs"].as_str(), Some("check"));
    assert_eq!(
        matrix["outputs"]["matrix"].as_str(),
        Some("${{ steps.matrix.outputs.matrix }}")
    );
    let step = matrix["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "matrix")
        .expect("a step with `id: matrix`");
    let run = step["run"].as_str().unwrap();
    assert!(run.contains("bentoml-docker export github-matrix"), "{run}");
    assert!(run.contains(">> \"$GITHUB_OUTPUT\""), "{run}");
}
