//! `generate` and the original flags on the seed-format fixture.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::test::Test;

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
        .expect("python3 with jinja2 is needed (`.ci/test` installs it)");
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
        let mut child = test.command(&["-bv", "0.13.0"]).spawn().unwrap();
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

/// Names in `dir`, sorted, each with what it is (`d` directory, `f` file,
/// `l` link, `p` fifo, `s` socket, `c` device) and its inode: a listing
/// that changes when anything is renamed, replaced or created.
fn listing(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let metadata = fs::symlink_metadata(e.path()).unwrap();
            let kind = metadata.file_type();
            let letter = if kind.is_dir() {
                'd'
            } else if kind.is_symlink() {
                'l'
            } else if kind.is_fifo() {
                'p'
            } else if kind.is_socket() {
                's'
            } else if kind.is_char_device() {
                'c'
            } else {
                'f'
            };
            format!(
                "{letter} {} {}",
                e.file_name().to_string_lossy(),
                metadata.ino()
            )
        })
        .collect();
    names.sort();
    names
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A fifo, a unix socket and a character device made in `dir`; the socket
/// lives as long as the listener. The device is left out where this
/// process may not make one.
fn special_files(dir: &Path) -> (Vec<&'static str>, std::os::unix::net::UnixListener) {
    use rustix::fs::{FileType, Mode};
    let mode = Mode::from_bits_truncate(0o644);
    rustix::fs::mknodat(rustix::fs::CWD, dir.join("fifo"), FileType::Fifo, mode, 0).unwrap();
    let socket = std::os::unix::net::UnixListener::bind(dir.join("socket")).unwrap();
    let mut made = vec!["fifo", "socket"];
    // (1, 3) is what /dev/null is; this one is only a name in a temp dir.
    let device = rustix::fs::makedev(1, 3);
    match rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("device"),
        FileType::CharacterDevice,
        mode,
        device,
    ) {
        Ok(()) => made.push("device"),
        Err(e) => eprintln!("no device node tested: {e}"),
    }
    (made, socket)
}

#[test]
fn an_output_path_that_is_not_a_directory_fails_before_anything_is_touched() {
    let mut test = Test::fixture("seed").file("file", "precious");
    let (special, _socket) = special_files(test.path());
    let before = listing(test.path());
    let mut paths = vec!["file", "file/generated"];
    paths.extend(special);
    for path in paths {
        let named = path.split('/').next().unwrap();
        for args in [
            vec!["generate", "-b", "0.13.0", "--dump-metadata", "-o", path],
            vec!["-bv", "0.13.0", "-dm", "-dd", path],
            vec!["check", "-b", "0.13.0", "-o", path],
        ] {
            test = test.args(&args);
            let output = test.failure(2);
            assert!(
                output.stderr.contains(&format!("`{named}` is a"))
                    && output.stderr.contains("not a directory"),
                "{args:?}: {}",
                output.stderr
            );
            assert_eq!(listing(test.path()), before, "{args:?} touched something");
        }
    }
    assert_eq!(test.read("file"), "precious");
}

#[test]
fn a_metadata_path_that_is_not_a_regular_file_fails_before_anything_is_touched() {
    let mut test = Test::fixture("seed").file("metadata.json/keep", "kept");
    let before = listing(test.path());
    for args in [
        vec!["-bv", "0.13.0", "-dm"],
        vec!["generate", "-b", "0.13.0", "--dump-metadata"],
    ] {
        test = test.args(&args);
        let output = test.failure(2);
        assert!(
            output
                .stderr
                .contains("metadata.json` is a directory, not a regular file"),
            "{}",
            output.stderr
        );
        assert_eq!(listing(test.path()), before);
    }
    fs::remove_dir_all(test.path().join("metadata.json")).unwrap();
    let (_, _socket) = special_files(test.path());
    fs::rename(test.path().join("fifo"), test.path().join("metadata.json")).unwrap();
    let before = listing(test.path());
    let test = test.args(&["-bv", "0.13.0", "-dm"]);
    let output = test.failure(2);
    assert!(
        output
            .stderr
            .contains("metadata.json` is a fifo, not a regular file"),
        "{}",
        output.stderr
    );
    assert_eq!(listing(test.path()), before);
}

#[test]
fn a_symlinked_output_directory_is_followed_and_the_link_kept() {
    let test = Test::fixture("seed").file("elsewhere/out/stale/Dockerfile", "old");
    std::os::unix::fs::symlink("elsewhere/out", test.path().join("generated")).unwrap();
    let test = test.args(&["generate", "-b", "0.13.0"]);
    test.success();
    assert_eq!(
        fs::read_link(test.path().join("generated")).unwrap(),
        Path::new("elsewhere/out")
    );
    let out = test.path().join("elsewhere/out");
    assert!(out.join("model-server/debian10/Dockerfile").exists());
    assert!(!out.join("stale").exists());
    assert_eq!(names(&test.path().join("elsewhere")), ["out"]);
    assert_eq!(
        names(test.path()),
        [
            "elsewhere",
            "generated",
            "manifest.yml",
            "templates",
            "tools"
        ]
    );
    let output = test.success();
    assert!(output.stdout.starts_with("up to date"), "{}", output.stdout);

    // A link that leads nowhere is refused, and nothing is created for it.
    fs::remove_dir_all(&out).unwrap();
    let before = listing(test.path());
    let output = test.failure(2);
    assert!(
        output
            .stderr
            .contains("generated` is a symbolic link to `elsewhere/out`, which does not exist"),
        "{}",
        output.stderr
    );
    assert_eq!(listing(test.path()), before);
    assert!(names(&test.path().join("elsewhere")).is_empty());
}

/// Holds the lock of `generated` in `dir`, as a run does (with the text
/// a run writes into it).
fn hold_lock(dir: &Path) -> fs::File {
    let path = dir.join(".generated.lock");
    fs::write(
        &path,
        "bentoml-docker: the lock of the output directory beside it\n",
    )
    .unwrap();
    let file = fs::File::open(&path).unwrap();
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).unwrap();
    file
}

/// A run of the binary in `dir` whose standard error is read as it comes.
pub(crate) struct Running {
    pub(crate) child: std::process::Child,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Running {
    pub(crate) fn start(test: &Test, args: &[&str], envs: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut child = test
            .command(args)
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = child.stderr.take().unwrap();
        let (send, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, stderr }
    }

    /// Waits until the run says that it waits for the lock.
    fn until_waiting(&self) -> String {
        let line = self
            .stderr
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the run says that it waits for the lock");
        assert!(line.starts_with("waiting for another run"), "{line}");
        line
    }

    pub(crate) fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// The exit code and the rest of standard error.
    pub(crate) fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        let rest: Vec<String> = self.stderr.iter().collect();
        (status.code(), rest.join("\n"))
    }
}

#[test]
fn a_second_run_waits_for_the_lock_with_a_message() {
    let test = Test::fixture("seed");
    let lock = hold_lock(test.path());
    let run = Running::start(&test, &["generate", "-b", "0.13.0"], &[]);
    let line = run.until_waiting();
    assert!(line.contains("`./generated`"), "{line}");
    assert!(line.contains(".generated.lock`"), "{line}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !test.path().join("generated").exists(),
        "written without the lock"
    );
    drop(lock);
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        test.path()
            .join("generated/model-server/debian10/Dockerfile")
            .exists()
    );
    // The lock file goes with the run that held it last.
    assert_eq!(
        names(test.path()),
        ["generated", "manifest.yml", "templates", "tools"]
    );
}

#[test]
fn build_takes_the_lock_while_it_writes_generated() {
    let test = Test::fixture("seed");
    let reference = Test::fixture("seed").args(&["generate", "-b", "0.13.0"]);
    reference.success();
    let lock = hold_lock(test.path());
    // No daemon there: the build fails once generated/ is written.
    let docker = format!("unix://{}/no-daemon.sock", test.path().display());
    let run = Running::start(
        &test,
        &["build", "-b", "0.13.0"],
        &[("DOCKER_HOST", &docker)],
    );
    run.until_waiting();
    assert!(
        !test.path().join("generated").exists(),
        "written without the lock"
    );
    drop(lock);
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(test.tree("generated"), reference.tree("generated"));
}

#[test]
fn a_signal_while_waiting_for_the_lock_exits_130_and_changes_nothing() {
    use rustix::process::Signal;
    let test = Test::fixture("seed").file("generated/old/Dockerfile", "old");
    let lock = hold_lock(test.path());
    let before = listing(test.path());
    for signal in [Signal::INT, Signal::TERM, Signal::HUP, Signal::QUIT] {
        let run = Running::start(&test, &["-bv", "0.13.0", "-dm"], &[]);
        run.until_waiting();
        run.signal(signal);
        let (code, stderr) = run.finish();
        assert_eq!(code, Some(130), "{signal:?}: {stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert_eq!(listing(test.path()), before, "{signal:?}");
        assert_eq!(
            test.tree("generated"),
            "=== generated/old/Dockerfile\nold\n"
        );
    }
    drop(lock);
}

#[test]
fn a_signal_while_rendering_exits_130_with_the_previous_tree() {
    use rustix::process::Signal;
    let mut manifest =
        fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    // Long enough to render that the signal lands before the swap.
    manifest = manifest.replace("  centos:\n", &many_debian_releases(200));
    let test = Test::fixture("seed")
        .manifest(&manifest)
        .file("generated/old/Dockerfile", "old");
    for signal in [Signal::INT, Signal::TERM, Signal::HUP, Signal::QUIT] {
        let lock = hold_lock(test.path());
        let run = Running::start(&test, &["-bv", "0.13.0", "-dm"], &[]);
        run.until_waiting();
        drop(lock);
        std::thread::sleep(std::time::Duration::from_millis(40));
        run.signal(signal);
        let (code, stderr) = run.finish();
        assert_eq!(code, Some(130), "{signal:?}: {stderr}");
        assert_eq!(
            test.tree("generated"),
            "=== generated/old/Dockerfile\nold\n",
            "{signal:?}"
        );
        assert_eq!(
            names(test.path()),
            ["generated", "manifest.yml", "templates", "tools"],
            "{signal:?}: a staging tree, metadata or the lock was left"
        );
    }
}

/// Whether process `pid` has a handler for `signal` (`SigCgt` in
/// `/proc/PID/status`).
pub(crate) fn catches(pid: u32, signal: rustix::process::Signal) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal.as_raw() - 1)) != 0)
}

/// A signal that comes while the manifest is still being read (nothing is
/// written yet) exits 130 too, not by the signal's default action.
#[test]
fn a_signal_while_the_manifest_is_read_exits_130() {
    use rustix::process::Signal;
    let mut manifest =
        fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    // Slow to read and check: the signal comes before anything is rendered.
    manifest = manifest.replace("  centos:\n", &many_debian_releases(1000));
    let test = Test::fixture("seed")
        .manifest(&manifest)
        .file("generated/old/Dockerfile", "old");
    // `validate` takes no lock and never looks at the stop flag: only the
    // early exit of a signal before the work cooperates ends it with 130.
    let commands: [&[&str]; 2] = [&["generate", "-b", "0.13.0"], &["validate"]];
    for (args, signal) in commands
        .into_iter()
        .flat_map(|args| [(args, Signal::TERM), (args, Signal::HUP)])
    {
        let run = Running::start(&test, args, &[]);
        let started = std::time::Instant::now();
        while !catches(run.child.id(), signal) {
            assert!(
                started.elapsed().as_secs() < 30,
                "no handler for {signal:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        run.signal(signal);
        let (code, stderr) = run.finish();
        assert_eq!(code, Some(130), "{args:?} {signal:?}: {stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert_eq!(
            test.tree("generated"),
            "=== generated/old/Dockerfile\nold\n"
        );
        assert_eq!(
            names(test.path()),
            ["generated", "manifest.yml", "templates", "tools"]
        );
    }
}

/// kill -9 at many moments, alternating two versions so that every run
/// replaces the tree: after a rerun, nothing but its output is left.
#[test]
fn a_killed_generation_leaves_no_staging_behind_after_a_rerun() {
    let mut manifest =
        fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    manifest = manifest.replace("  centos:\n", &many_debian_releases(30));
    let mut test = Test::fixture("seed").manifest(&manifest);
    let expected = [
        "generated",
        "manifest.yml",
        "metadata.json",
        "templates",
        "tools",
    ];
    let mut complete = std::collections::HashMap::new();
    for version in ["0.13.0", "0.14.0"] {
        let reference = Test::fixture("seed")
            .manifest(&manifest)
            .args(&["-bv", version, "-dm"]);
        reference.success();
        complete.insert(version, reference.tree("generated"));
    }
    for (i, delay_ms) in [1, 4, 10, 25, 50, 100, 200, 400].into_iter().enumerate() {
        let version = if i % 2 == 0 { "0.13.0" } else { "0.14.0" };
        let mut child = test
            .command(&["-bv", version, "-dm"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        // The rerun asks for what is there when the kill came after the swap.
        test = test.args(&["-bv", version, "-dm"]);
        test.success();
        assert_eq!(
            names(test.path()),
            expected,
            "after a kill at {delay_ms} ms"
        );
        assert!(test.tree("generated") == complete[version]);
    }
}

#[test]
fn an_old_tree_that_cannot_be_removed_is_not_replaced() {
    /// A file made immutable or append-only (not even root may remove
    /// it), made ordinary again when dropped.
    struct Pinned(std::path::PathBuf, &'static str);
    impl Drop for Pinned {
        fn drop(&mut self) {
            let _ = Command::new("chattr")
                .arg(self.1.replace('+', "-"))
                .arg(&self.0)
                .status();
        }
    }
    for attribute in ["+i", "+a"] {
        let test = Test::fixture("seed")
            .file("generated/old/Dockerfile", "old")
            .args(&["-bv", "0.13.0", "-dm"]);
        let file = test.path().join("generated/old/Dockerfile");
        let status = Command::new("chattr")
            .arg(attribute)
            .arg(&file)
            .status()
            .expect("chattr (e2fsprogs) is installed");
        assert!(
            status.success(),
            "chattr {attribute} failed: the test needs root on ext4 or alike"
        );
        let _guard = Pinned(file, attribute);
        let output = test.failure(1);
        // As one line, whatever the wrapping.
        let message = output
            .stderr
            .split(|c: char| c.is_whitespace() || c == '\u{2502}')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            message.contains("generated/old/Dockerfile` cannot be removed")
                && message.contains("Operation not permitted"),
            "{}",
            output.stderr
        );
        assert_eq!(
            test.tree("generated"),
            "=== generated/old/Dockerfile\nold\n"
        );
        assert_eq!(
            names(test.path()),
            ["generated", "manifest.yml", "templates", "tools"]
        );
    }
}

/// A run that may not write beside the output cannot take its lock, nor
/// write anything: an up-to-date tree is still up to date for it.
#[test]
fn an_up_to_date_tree_in_a_directory_the_run_may_not_write_is_up_to_date() {
    use std::os::unix::fs::PermissionsExt;
    let test = Test::fixture("seed").args(&["-bv", "0.13.0"]);
    test.success();
    // Everyone may read the repo; only its owner (root) may write it.
    for dir in [test.path(), &test.path().join("generated")] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let before = listing(test.path());
    let output = test
        .command_through(
            &[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ],
            &["-bv", "0.13.0"],
        )
        .output()
        .expect("setpriv (util-linux) is installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("up to date"), "{stdout}");
    assert_eq!(listing(test.path()), before);
}

/// Pairs of runs on one output at once: each pair ends with one run's
/// whole result, tree and metadata alike, and nothing else left.
#[test]
fn concurrent_runs_leave_one_whole_tree_each_time() {
    let mut manifest =
        fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    // Long enough to write that the runs of a pair overlap.
    manifest = manifest.replace("  centos:\n", &many_debian_releases(10));
    let versions = ["0.13.0", "0.14.0"];
    let reference: Vec<(String, String)> = versions
        .iter()
        .map(|version| {
            let test = Test::fixture("seed").manifest(&manifest).args(&[
                "generate",
                "-b",
                version,
                "--dump-metadata",
            ]);
            test.success();
            (test.tree("generated"), test.read("metadata.json"))
        })
        .collect();
    let test = Test::fixture("seed").manifest(&manifest);
    for pair in 0..50 {
        let children: Vec<_> = versions
            .iter()
            .map(|version| {
                test.command(&["generate", "-b", version, "--dump-metadata"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success(), "pair {pair}: a run failed");
        }
        let result = (test.tree("generated"), test.read("metadata.json"));
        assert!(
            reference.contains(&result),
            "pair {pair}: the tree and metadata are not one run's whole result"
        );
        assert_eq!(
            names(test.path()),
            [
                "generated",
                "manifest.yml",
                "metadata.json",
                "templates",
                "tools"
            ],
            "pair {pair}"
        );
    }
}

/// `docker build images/` by hand must not send a run's staging tree or
/// lock either.
#[test]
fn the_images_dockerignore_excludes_staging_trees_and_the_lock() {
    let ignore =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("images/.dockerignore"))
            .unwrap();
    let patterns: Vec<globset::GlobMatcher> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|l| globset::Glob::new(l).unwrap().compile_matcher())
        .collect();
    for name in [
        ".generated.lock",
        ".generated.staging-4242-AbC123",
        ".metadata.json.staging-4242-AbC123",
    ] {
        assert!(
            patterns.iter().any(|p| p.is_match(name)),
            "`{name}` is not excluded by images/.dockerignore"
        );
    }
}

/// `check` renders into a temporary directory; a signal while it does
/// exits 130 and takes the directory with it.
#[test]
fn a_signal_during_check_exits_130_and_leaves_no_temporary_tree() {
    let mut manifest =
        fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    manifest = manifest.replace("  centos:\n", &many_debian_releases(400));
    let test = Test::fixture("seed").manifest(&manifest);
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().to_str().unwrap();
    let run = Running::start(&test, &["check", "-b", "0.13.0"], &[("TMPDIR", tmpdir)]);
    let started = std::time::Instant::now();
    while fs::read_dir(tmp.path()).unwrap().next().is_none() {
        assert!(
            started.elapsed().as_secs() < 60,
            "check made no temporary tree"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    run.signal(rustix::process::Signal::TERM);
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "a temporary tree was left"
    );
}

/// A directory bind-mounted inside the previous tree (same file system, so
/// the same device number) stops the swap before anything is touched: the
/// mounted files are never removed, and no staging tree is left.
#[test]
fn a_bind_mount_inside_the_output_keeps_its_files_and_stops_the_swap() {
    /// Unmounts every mount under the directory when dropped, wherever a
    /// run moved it.
    struct Mounted(std::path::PathBuf);
    impl Drop for Mounted {
        fn drop(&mut self) {
            let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            let under: Vec<&str> = table
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|point| Path::new(point).starts_with(&self.0))
                .collect();
            for point in under.into_iter().rev() {
                let _ = Command::new("umount").arg(point).status();
            }
        }
    }
    let test = Test::fixture("seed")
        .file("src/notes.md", "precious")
        .args(&["generate", "-b", "0.13.0"]);
    test.success();
    let before = test.tree("generated");
    let point = test.path().join("generated/docs");
    fs::create_dir_all(&point).unwrap();
    let status = Command::new("mount")
        .arg("--bind")
        .arg(test.path().join("src"))
        .arg(&point)
        .status()
        .expect("mount (util-linux) is installed");
    assert!(status.success(), "mount --bind failed: the test needs root");
    let _mounted = Mounted(test.path().to_path_buf());
    let test = test.args(&["generate", "-b", "0.14.0"]);
    let output = test.failure(1);
    assert!(
        output.stderr.contains("generated/docs` cannot be removed"),
        "{}",
        output.stderr
    );
    assert_eq!(test.read("src/notes.md"), "precious");
    assert_eq!(test.read("generated/docs/notes.md"), "precious");
    assert_eq!(
        names(test.path()),
        ["generated", "manifest.yml", "src", "templates", "tools"],
        "a staging tree was left"
    );
    // The previous tree, with the mount, is as it was.
    assert_eq!(
        test.tree("generated")
            .replace("=== generated/docs/notes.md\nprecious\n", ""),
        before
    );
    // A rerun fails the same way, and still leaves nothing behind.
    test.failure(1);
    assert_eq!(test.read("src/notes.md"), "precious");
    assert_eq!(
        names(test.path()),
        ["generated", "manifest.yml", "src", "templates", "tools"]
    );
}

/// Files that only look like the tool's own are the user's: a run, even
/// an up-to-date one, leaves them, and a lock file it did not create is
/// refused (exit 2), not taken nor removed.
#[test]
fn files_named_like_staging_or_the_lock_are_never_removed() {
    let test = Test::fixture("seed")
        .file(".generated.staging-backup/notes", "mine")
        .file(".generated.staging-1-mine/notes", "mine")
        .file(".generated.staging-12-abcdef/notes", "mine")
        .file(".generated.staging-old.txt", "mine")
        .args(&["generate", "-b", "0.13.0"]);
    test.success();
    test.success();
    for file in [
        ".generated.staging-backup/notes",
        ".generated.staging-1-mine/notes",
        ".generated.staging-12-abcdef/notes",
        ".generated.staging-old.txt",
    ] {
        assert_eq!(test.read(file), "mine", "{file}");
    }
    let test = test.file(".generated.lock", "my lock notes");
    let output = test.failure(2);
    assert!(
        output
            .stderr
            .contains(".generated.lock` is not a lock this tool made"),
        "{}",
        output.stderr
    );
    assert_eq!(test.read(".generated.lock"), "my lock notes");
}

/// `build` holds the lock from regeneration to the end of its builds: a
/// `generate` meanwhile waits, and never swaps the Dockerfiles being built.
#[test]
fn a_generate_waits_while_a_build_builds() {
    use std::sync::{Arc, Mutex};
    let test = Test::fixture("seed");
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("silent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // A daemon that takes connections and never answers.
    let connections = Arc::new(Mutex::new(Vec::new()));
    let held = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            held.lock().unwrap().push(stream);
        }
    });
    let docker = format!("unix://{}", socket.display());
    let build = Running::start(
        &test,
        &["build", "-b", "0.13.0"],
        &[("DOCKER_HOST", &docker)],
    );
    let started = std::time::Instant::now();
    while connections.lock().unwrap().is_empty() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the build never reached the daemon"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let built = test.tree("generated");
    let generate = Running::start(&test, &["generate", "-b", "0.14.0"], &[]);
    generate.until_waiting();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(test.tree("generated"), built, "swapped under the build");
    // The daemon goes away: the build fails, and lets the other run go on.
    fs::remove_file(&socket).unwrap();
    connections.lock().unwrap().clear();
    let (code, stderr) = build.finish();
    assert_eq!(code, Some(1), "{stderr}");
    let (code, stderr) = generate.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_ne!(test.tree("generated"), built);
}

/// Sends `signal` to `run` once it handles it, and returns its exit code
/// and standard error.
pub(crate) fn signal_once_handled(
    run: Running,
    signal: rustix::process::Signal,
) -> (Option<i32>, String) {
    let started = std::time::Instant::now();
    while !catches(run.child.id(), signal) {
        assert!(
            started.elapsed().as_secs() < 30,
            "no handler for {signal:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    run.signal(signal);
    run.finish()
}

/// Read-only commands exit 130 on a signal too, not 143 (SIGTERM's
/// default action): a dry-run `generate` and `validate`.
#[test]
fn a_signal_during_a_dry_run_or_validate_exits_130() {
    use rustix::process::Signal;
    let mut manifest =
        fs::read_to_string(crate::test::fixtures().join("seed/manifest.yml")).unwrap();
    manifest = manifest.replace("  centos:\n", &many_debian_releases(1000));
    let test = Test::fixture("seed").manifest(&manifest);
    let commands: [&[&str]; 2] = [&["generate", "-b", "0.13.0", "--dry-run"], &["validate"]];
    for args in commands {
        for signal in [Signal::TERM, Signal::INT] {
            let run = Running::start(&test, args, &[]);
            let (code, stderr) = signal_once_handled(run, signal);
            assert_eq!(code, Some(130), "{args:?} {signal:?}: {stderr}");
        }
    }
    assert!(!test.path().join("generated").exists());
}

/// `.`, `..` and paths ending in them, and the images repo itself, are
/// refused before anything is rendered (exit 2); `out/` with `out` a
/// link is the link, followed.
#[test]
fn an_output_named_by_a_dot_or_the_repo_itself_is_refused_up_front() {
    let mut test = Test::fixture("seed").file("elsewhere/keep", "x");
    std::os::unix::fs::symlink("elsewhere", test.path().join("out")).unwrap();
    let before = listing(test.path());
    let repo = test.path().to_str().unwrap().to_string();
    for output in [".", "..", "out/.", "./", repo.as_str()] {
        test = test.args(&["generate", "-b", "0.13.0", "-o", output]);
        let result = test.failure(2);
        assert!(
            result.stderr.contains("refusing to replace"),
            "{output}: {}",
            result.stderr
        );
        assert_eq!(listing(test.path()), before, "{output}");
    }
    fs::remove_file(test.path().join("elsewhere/keep")).unwrap();
    let test = test.args(&["generate", "-b", "0.13.0", "-o", "out/"]);
    test.success();
    assert!(test.path().join("out").is_symlink());
    assert!(
        test.path()
            .join("elsewhere/model-server/debian10/Dockerfile")
            .exists()
    );
}

/// A run that fails before installing its tree leaves no directory it
/// created for the output's parents: "nothing was written" holds.
#[test]
fn a_failed_run_leaves_no_parent_directories_behind() {
    let test = Test::fixture("seed")
        .file("existing/keep", "x")
        .file(
            "templates/debian/devel.Dockerfile.j2",
            "FROM {{ metadata.package }}\nRUN echo {{ metadata.no_such_key }}\n",
        )
        .args(&["generate", "-b", "0.13.0", "-o", "new/deep/generated"]);
    let before = listing(test.path());
    test.failure(2);
    let test = test.args(&["generate", "-b", "0.13.0", "-o", "existing/deep/generated"]);
    test.failure(2);
    assert_eq!(listing(test.path()), before);
}

/// A symlinked output works for `check` (and so `build`) as for
/// `generate`: the build context follows the link to the tree.
#[test]
fn check_follows_a_symlinked_output_into_the_build_context() {
    let elsewhere = tempfile::tempdir().unwrap();
    let test = Test::fixture("seed");
    std::os::unix::fs::symlink(elsewhere.path(), test.path().join("generated")).unwrap();
    let test = test.args(&["generate", "-b", "0.13.0"]);
    test.success();
    let test = test.args(&["check", "-b", "0.13.0"]);
    let output = test.success();
    assert!(output.stdout.contains("is up to date"), "{}", output.stdout);
    assert!(test.path().join("generated").is_symlink());
}

/// A template that renders for minutes does not hold the run hostage: a
/// second signal exits 130 at once, the previous tree intact, and the
/// next run leaves nothing of it.
#[test]
fn a_second_signal_exits_130_at_once_while_a_template_renders() {
    use rustix::process::Signal;
    let test = Test::fixture("seed")
        .file("generated/old/Dockerfile", "old")
        .file(
            "templates/debian/devel.Dockerfile.j2",
            "FROM x\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
        );
    let run = Running::start(
        &test,
        &["generate", "-b", "0.13.0"],
        &[("BENTOML_DOCKER_TEMPLATE_FUEL", "100000000000")],
    );
    let started = std::time::Instant::now();
    while !catches(run.child.id(), Signal::INT) {
        assert!(started.elapsed().as_secs() < 30, "no handler");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    run.signal(Signal::INT);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let signalled = std::time::Instant::now();
    run.signal(Signal::TERM);
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
    assert_eq!(
        test.tree("generated"),
        "=== generated/old/Dockerfile\nold\n"
    );
    let test = test
        .file("templates/debian/devel.Dockerfile.j2", "FROM x\n")
        .args(&["generate", "-b", "0.13.0"]);
    fs::remove_dir_all(test.path().join("generated/old")).unwrap();
    test.success();
    assert_eq!(
        names(test.path()),
        ["generated", "manifest.yml", "templates", "tools"]
    );
}
