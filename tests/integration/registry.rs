//! Real pushes: `docker-registry` with htpasswd authentication on
//! 127.0.0.1 (started here, on free ports), the Docker daemon that
//! `.ci/run` starts, and the registry's HTTP API to check what arrived.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::test::Test;

pub(crate) const USER: &str = "pusher";

pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A registry with one user, on a free port.
pub(crate) fn registry(password: &str) -> Server {
    registry_with(password, "")
}

/// A registry anyone may pull from and push to, on a free port.
fn open_registry() -> Server {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    start_registry(dir, "", "")
}

/// A registry with one user, on a free port, with more `storage` settings.
fn registry_with(password: &str, storage: &str) -> Server {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let htpasswd = Command::new("htpasswd")
        .args([
            "-Bbc",
            dir.path().join("htpasswd").to_str().unwrap(),
            USER,
            password,
        ])
        .output()
        .expect("htpasswd (apache2-utils)");
    assert!(htpasswd.status.success());
    let auth = "auth:\n  htpasswd:\n    realm: test\n    path: {root}/htpasswd\n";
    start_registry(dir, storage, auth)
}

/// A registry in `dir` on a free port; `{root}` in `auth` is `dir`.
fn start_registry(dir: tempfile::TempDir, storage: &str, auth: &str) -> Server {
    let port = free_port();
    let root = dir.path().display().to_string();
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n  delete:\n    enabled: true\n{storage}http:\n  addr: 127.0.0.1:{port}\n{}",
        auth.replace("{root}", &root)
    );
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let child = Command::new("docker-registry")
        .args(["serve", dir.path().join("config.yml").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the registry did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Server {
        child,
        port,
        _dir: dir,
    }
}

/// Asks the registry over its HTTP API.
fn curl(port: u16, password: &str, path: &str, head: bool) -> String {
    let mut args = vec![
        "-s".to_string(),
        "-u".into(),
        format!("{USER}:{password}"),
        "-H".into(),
        "Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json".into(),
    ];
    if head {
        args.push("-I".into());
    }
    args.push(format!("http://127.0.0.1:{port}{path}"));
    let output = Command::new("curl").args(&args).output().expect("curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn tags(port: u16, password: &str, repository: &str) -> Vec<String> {
    let body = curl(
        port,
        password,
        &format!("/v2/{repository}/tags/list"),
        false,
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let mut tags: Vec<String> = json["tags"].as_array().map_or_else(Vec::new, |t| {
        t.iter().map(|v| v.as_str().unwrap().to_string()).collect()
    });
    tags.sort();
    tags
}

pub(crate) fn digest(port: u16, password: &str, repository: &str, tag: &str) -> String {
    let head = curl(
        port,
        password,
        &format!("/v2/{repository}/manifests/{tag}"),
        true,
    );
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("docker-content-digest:")
                .then(|| l.split_once(':').unwrap().1.trim().to_string())
        })
        .unwrap_or_default()
}

/// The build fixture, quick to build (no network), one Python version,
/// pushed to `registries`: (host:port as written, variable prefix).
pub(crate) fn fixture(package: &str, registries: &[(String, &str)]) -> Test {
    let mut manifest =
        std::fs::read_to_string(crate::test::fixtures().join("build/manifest.yml")).unwrap();
    manifest = manifest
        .replace("  app:\n", &format!("  {package}:\n"))
        .replace(
            "python_versions: [\"3.11\", \"3.13\"]",
            "python_versions: [\"3.11\"]",
        );
    let mut repository = String::from("repository:\n");
    for (host, prefix) in registries {
        let _ = write!(
            repository,
            "  \"{host}\":\n    only_if: {prefix}_PASSWORD\n    user: {prefix}_USER\n    pwd: {prefix}_PASSWORD\n    registry:\n      {package}: {host}/bdtest/{package}\n"
        );
    }
    manifest = manifest.replacen("release_spec:", &format!("{repository}\nrelease_spec:"), 1);
    Test::fixture("build")
        .manifest(&manifest)
        .file("templates/debian/base.Dockerfile.j2", "FROM {{ metadata.base_image }}\nARG PYTHON_VERSION\nRUN echo \"python $PYTHON_VERSION in {{ metadata.package }}\" > /python.txt\n")
        .file("templates/debian/runtime.Dockerfile.j2", "ARG PYTHON_VERSION\nFROM {{ metadata.package }}:{{ build_tag }}\nCOPY tools/hello.py /hello.py\n")
}

pub(crate) fn run(test: &Test, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = test.command(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub(crate) fn docker(args: &[&str]) {
    let output = Command::new("docker").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn cleanup(package: &str) {
    let output = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    for image in String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains(package))
    {
        let _ = Command::new("docker")
            .args(["rmi", "-f", "--no-prune", image])
            .output();
    }
}

/// Fails when any file under `dir` holds `secret`, naming it.
#[track_caller]
pub(crate) fn no_file_holds(dir: &std::path::Path, secret: &str) {
    let mut files = Vec::new();
    all_files(dir, &mut files);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{} holds the password",
            file.display()
        );
    }
}

pub(crate) fn all_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            all_files(&entry.path(), out);
        } else {
            out.push(entry.path());
        }
    }
}

const TAGS: [&str; 3] = [
    "1.3.0-python3.11-bookworm-runtime",
    "base-python3.11-bookworm",
    "devel-python3.11-bookworm",
];

/// A tag of an older BentoML release pushed beside the current ones; the
/// output of the `status` that follows.
fn an_older_release_is_another_release(test: &Test, env: &[(&str, &str)], package: &str) -> String {
    // A tag of an older BentoML release is another release, not extra: it
    // does not fail `status` (it could never pass once a second release
    // existed).
    let old = format!("{package}:1.2.0-python3.11-bookworm-runtime");
    docker(&[
        "tag",
        &format!("{package}:1.3.0-python3.11-bookworm-runtime"),
        &old,
    ]);
    let (code, stdout, stderr) = run(test, &["push", "-b", "1.2.0", "--target", &old], env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run(test, &["status", "--report", "status.json"], env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("3 current, 0 not, 1 of other releases"),
        "{stdout}"
    );
    let status: serde_json::Value = serde_json::from_str(&test.read("status.json")).unwrap();
    assert_eq!(
        (
            count(&status, "current"),
            count(&status, "other release"),
            count(&status, "extra")
        ),
        (3, 1, 0),
        "{status}"
    );
    stdout + &stderr
}

/// How many tags of a `status` report are in `state`.
fn count(status: &serde_json::Value, state: &str) -> usize {
    status
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == state)
        .count()
}

/// `push --report`: every target pushed, each with the digest the registry
/// serves; the run's output.
fn push_with_verified_digests(
    test: &Test,
    env: &[(&str, &str)],
    port: u16,
    password: &str,
    repository: &str,
) -> String {
    let (code, stdout, stderr) = run(test, &["push", "--report", "push.json"], env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&test.read("push.json")).unwrap();
    for push in report["targets"].as_array().unwrap() {
        let tag = push["reference"]
            .as_str()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1;
        assert_eq!(push["status"], "pushed");
        assert_eq!(
            push["digest"].as_str().unwrap(),
            digest(port, password, repository, tag)
        );
    }
    stdout + &stderr
}

#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_seed_flags_build_and_push_every_tag_verified_and_the_password_never_leaks() {
    let package = "bdtest-push";
    let password = "Pa55-w0rd-n3ver-leaks";
    cleanup(package);
    let server = registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let test = fixture(package, &[(host.clone(), "REG")]);
    let docker_config = std::env::var("HOME")
        .map(|h| std::path::Path::new(&h).join(".docker/config.json"))
        .unwrap();
    let config_before = std::fs::read_to_string(&docker_config).ok();
    let env = [("REG_USER", USER), ("REG_PASSWORD", password)];

    let mut outputs = Vec::new();
    let (code, stdout, stderr) = run(&test, &["-bv", "1.3.0", "-bi", "-pth"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("3 pushed"), "{stdout}");
    outputs.push(stdout + &stderr);

    let repository = format!("bdtest/{package}");
    assert_eq!(tags(server.port, password, &repository), TAGS);

    // Again, with a report: every digest is the one the registry serves.
    outputs.push(push_with_verified_digests(
        &test,
        &env,
        server.port,
        password,
        &repository,
    ));
    let (code, stdout, stderr) = run(&test, &["status"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("3 current, 0 not"), "{stdout}");
    outputs.push(stdout + &stderr);

    // A Python version of the selection that was never pushed: missing. The
    // pushed 3.11 tags are part of the matrix, so they are not extra.
    let (code, stdout, stderr) = run(
        &test,
        &["status", "-p", "3.12", "--report", "status.json"],
        &env,
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    let status: serde_json::Value = serde_json::from_str(&test.read("status.json")).unwrap();
    assert_eq!(
        (count(&status, "missing"), count(&status, "extra")),
        (3, 0),
        "{status}"
    );
    outputs.push(stdout + &stderr);

    outputs.push(an_older_release_is_another_release(&test, &env, package));

    // A runtime image of edited inputs: the registry's is stale, and says
    // why.
    let template = test.path().join("templates/debian/runtime.Dockerfile.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}RUN echo rebuilt > /rebuilt\n")).unwrap();
    let (code, stdout, stderr) = run(&test, &["build"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = run(&test, &["status", "--report", "status.json"], &env);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let status: serde_json::Value = serde_json::from_str(&test.read("status.json")).unwrap();
    let stale: Vec<&str> = status
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "stale" && s["reason"] == "inputs changed")
        .map(|s| s["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        stale,
        [format!("{package}:1.3.0-python3.11-bookworm-runtime")],
        "{status}"
    );
    outputs.push(stdout + &stderr);

    // The password is nowhere: outputs, reports, logs, generated files.
    for output in &outputs {
        assert!(!output.contains(password));
    }
    no_file_holds(test.path(), password);
    assert_eq!(
        std::fs::read_to_string(&docker_config).ok(),
        config_before,
        "no login state is written"
    );
    cleanup(package);
}

#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_a_wrong_password_fails_fast_with_a_clear_message() {
    let package = "bdtest-wrongpw";
    cleanup(package);
    let server = registry("the-right-one");
    let test = fixture(package, &[(format!("127.0.0.1:{}", server.port), "REG")]);
    let (code, stdout, stderr) = run(&test, &["build"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let started = Instant::now();
    let (code, stdout, stderr) = run(
        &test,
        &["push", "--report", "push.json"],
        &[("REG_USER", USER), ("REG_PASSWORD", "a-wrong-one")],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // Said once for the registry, in words, not the registry's JSON per target.
    let said = format!(
        "authentication to `127.0.0.1:{}` failed (401): check the variables its `user`/`pwd` name, `REG_USER` and `REG_PASSWORD`",
        server.port
    );
    let all = format!("{stdout}{stderr}");
    assert_eq!(all.matches(&said).count(), 1, "{all}");
    assert!(!all.contains("errors") && !all.contains("url"), "{all}");
    let report: serde_json::Value = serde_json::from_str(&test.read("push.json")).unwrap();
    // Refused when the credentials were checked, before any push: no retries.
    assert!(
        report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["attempts"] == 1 && p["status"] == "failed"),
        "{report}"
    );
    assert!(!stdout.contains("a-wrong-one") && !stderr.contains("a-wrong-one"));
    cleanup(package);
}

/// Credentials that may read but not push (here a registry in read-only
/// mode) fail when checked, before any image is pushed.
#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_read_only_access_fails_before_any_push() {
    let package = "bdtest-readonly";
    cleanup(package);
    let password = "read-only-pass";
    let server = registry_with(
        password,
        "  maintenance:\n    readonly:\n      enabled: true\n",
    );
    let test = fixture(package, &[(format!("127.0.0.1:{}", server.port), "REG")]);
    let (code, stdout, stderr) = run(&test, &["build"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Reading works: the tags of the repository can be listed.
    assert!(tags(server.port, password, &format!("bdtest/{package}")).is_empty());
    let (code, stdout, stderr) = run(
        &test,
        &["push", "--report", "push.json"],
        &[("REG_USER", USER), ("REG_PASSWORD", password)],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("cannot push to `"), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&test.read("push.json")).unwrap();
    assert!(
        report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["attempts"] == 1 && p["status"] == "failed"),
        "{report}"
    );
    cleanup(package);
}

/// A base image the daemon lacks is pulled before its inputs are hashed, so
/// the next build finds every image up to date.
#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_a_base_image_pulled_by_the_build_is_not_rebuilt_after() {
    let package = "bdtest-pull";
    cleanup(package);
    let server = open_registry();
    let base = format!("127.0.0.1:{}/bdtest-pull/debian:bookworm-slim", server.port);
    docker(&["tag", "debian:bookworm-slim", &base]);
    docker(&["push", &base]);
    docker(&["rmi", "--no-prune", &base]);
    let test = fixture(package, &[]);
    let manifest = test.read("manifest.yml").replace(
        "base_image: debian:bookworm-slim",
        &format!("base_image: {base}"),
    );
    let test = test.manifest(&manifest);
    let build = ["build", "--network", "host", "--report", "build.json"];
    let (code, stdout, stderr) = run(&test, &build, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The build pulled it.
    docker(&["image", "inspect", &base]);
    let (code, stdout, stderr) = run(&test, &build, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&test.read("build.json")).unwrap();
    let statuses: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["up-to-date"; 3], "{report}");
    let _ = Command::new("docker")
        .args(["rmi", "--no-prune", &base])
        .output();
    cleanup(package);
}

#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_that_is_down_fails_after_bounded_retries() {
    let package = "bdtest-down";
    cleanup(package);
    let port = free_port();
    let test = fixture(package, &[(format!("127.0.0.1:{port}"), "REG")]);
    let (code, _, stderr) = run(&test, &["build"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let env = [("REG_USER", USER), ("REG_PASSWORD", "x")];
    let started = Instant::now();
    let (code, stdout, stderr) = run(
        &test,
        &[
            "push",
            "--attempts",
            "3",
            "--report",
            "push.json",
            "--target",
            &format!("{package}:base-python3.11-bookworm"),
        ],
        &env,
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // In words, once, not the HTTP client's error chain.
    let said =
        format!("`127.0.0.1:{port}` refused the connection after 3 attempts: is it running?");
    let all = format!("{stdout}{stderr}");
    assert_eq!(all.matches(&said).count(), 1, "{all}");
    assert!(!all.contains("error sending request"), "{all}");
    let report: serde_json::Value = serde_json::from_str(&test.read("push.json")).unwrap();
    assert_eq!(report["targets"][0]["attempts"], 3, "{report}");
    cleanup(package);
}

/// Forwards to `upstream`, but answers the first `failures` connections with 500.
fn faulty_proxy(upstream: u16, failures: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let failed = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&failed);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if counter.load(Ordering::SeqCst) < failures {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut client = client;
                let mut buffer = [0; 4096];
                let _ = client.read(&mut buffer);
                let _ = client.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            }
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut client_read, mut server_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut client_read, &mut server_write));
            let (mut server_read, mut client_write) = (server, client);
            std::thread::spawn(move || std::io::copy(&mut server_read, &mut client_write));
        }
    });
    (port, failed)
}

#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_behind_a_proxy_that_fails_first_still_ends_in_a_verified_push() {
    let package = "bdtest-flaky";
    cleanup(package);
    let password = "flaky-pass";
    let server = registry(password);
    let (proxy, failed) = faulty_proxy(server.port, 3);
    let test = fixture(package, &[(format!("127.0.0.1:{proxy}"), "REG")]);
    let (code, _, stderr) = run(&test, &["build"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = run(
        &test,
        &["push", "-j", "1", "--report", "push.json"],
        &[("REG_USER", USER), ("REG_PASSWORD", password)],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        3,
        "the proxy failed the first requests"
    );
    assert_eq!(
        tags(server.port, password, &format!("bdtest/{package}")),
        TAGS
    );
    cleanup(package);
}

#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_two_registries_with_their_own_credentials_both_receive_every_tag() {
    let package = "bdtest-two";
    cleanup(package);
    let (one, two) = (registry("first-pass"), registry("second-pass"));
    let test = fixture(
        package,
        &[
            (format!("127.0.0.1:{}", one.port), "ONE"),
            (format!("127.0.0.1:{}", two.port), "TWO"),
        ],
    );
    // The second registry's credentials come from .env, the first's from the environment.
    let test = test.file(
        ".env",
        &format!("TWO_USER={USER}\nTWO_PASSWORD=second-pass\n"),
    );
    let (code, _, stderr) = run(&test, &["build"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = run(
        &test,
        &["push"],
        &[("ONE_USER", USER), ("ONE_PASSWORD", "first-pass")],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("6 pushed"), "{stdout}");
    assert!(
        stderr.contains("can be read by other users"),
        "a readable .env is warned about: {stderr}"
    );
    let repository = format!("bdtest/{package}");
    assert_eq!(tags(one.port, "first-pass", &repository), TAGS);
    assert_eq!(tags(two.port, "second-pass", &repository), TAGS);
    cleanup(package);
}

/// The exact sequence that failed: six tags pushed (two Python versions
/// given on the command line, not the manifest's), then `status` with the
/// same selection: it said `6 current, 6 not`, each current tag counted a
/// second time as `extra`, and exited 1.
#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_status_right_after_pushing_six_tags_reports_six_current_and_exits_0() {
    let package = "bdtest-status6";
    let password = "status-six-pass";
    cleanup(package);
    let server = registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let test = fixture(package, &[(host, "REG")]);
    let env = [("REG_USER", USER), ("REG_PASSWORD", password)];
    let versions = ["-p", "3.12", "-p", "3.13"];
    let with = |command: &str, more: &[&'static str]| {
        let mut args = vec![command];
        args.extend(versions);
        args.extend(more);
        run(&test, &args, &env)
    };
    let (code, stdout, stderr) = with("build", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = with("push", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("6 pushed"), "{stdout}");
    assert_eq!(
        tags(server.port, password, &format!("bdtest/{package}")).len(),
        6
    );
    let (code, stdout, stderr) = with("status", &["--report", "status.json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("6 current, 0 not"), "{stdout}");
    let status: serde_json::Value = serde_json::from_str(&test.read("status.json")).unwrap();
    let states: Vec<&str> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["current"; 6], "{status}");
    // Without `-p` the matrix is the manifest's 3.11: its tags are missing,
    // and the pushed ones, which that matrix does not produce, are extra.
    let (code, stdout, stderr) = run(&test, &["status", "--report", "status.json"], &env);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let status: serde_json::Value = serde_json::from_str(&test.read("status.json")).unwrap();
    let count = |state: &str| {
        status
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == state)
            .count()
    };
    assert_eq!((count("missing"), count("extra")), (3, 6), "{status}");
    cleanup(package);
}

/// bollard sent the credentials in standard base64, which the daemon reads
/// as URL-safe base64: a password whose credentials encode to a `+` or a
/// `/` reached the registry as no credentials at all (`no basic auth
/// credentials`) after passing the credential check.
#[test]
#[ignore = "needs a Docker daemon and docker-registry; .ci/run sets them up"]
fn registry_push_succeeds_with_passwords_whose_credentials_encode_to_plus_or_slash() {
    let package = "bdtest-b64pw";
    cleanup(package);
    let passwords = [
        "tilde~x",
        "a+b/c?>",
        "pa\"ss\\w0rd",
        "c0l:on/sl'sh$dollar 100% sp ace",
        "ünï€ode-😀-\"mix\\ed\" %41",
        "???>>>~~~",
    ];
    let built = fixture(package, &[("127.0.0.1:1".into(), "REG")]);
    let (code, stdout, stderr) = run(&built, &["build"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for password in passwords {
        let server = registry(password);
        let test = fixture(package, &[(format!("127.0.0.1:{}", server.port), "REG")]);
        let env = [("REG_USER", USER), ("REG_PASSWORD", password)];
        let (code, stdout, stderr) = run(&test, &["push", "--report", "push.json"], &env);
        assert_eq!(code, 0, "password {password:?}: {stdout}{stderr}");
        assert!(stdout.contains("3 pushed"), "{stdout}");
        let repository = format!("bdtest/{package}");
        assert_eq!(tags(server.port, password, &repository), TAGS);
        let report: serde_json::Value = serde_json::from_str(&test.read("push.json")).unwrap();
        for push in report["targets"].as_array().unwrap() {
            let tag = push["reference"]
                .as_str()
                .unwrap()
                .rsplit_once(':')
                .unwrap()
                .1;
            assert_eq!(
                push["digest"].as_str().unwrap(),
                digest(server.port, password, &repository, tag)
            );
        }
        assert!(!format!("{stdout}{stderr}").contains(password));
    }
    cleanup(package);
}

/// `build --engine buildah --push`: buildah pushes every image itself, its
/// credentials in a private auth file (never an argument), and each tag is
/// verified by digest; the password is in no output or file left behind.
#[test]
#[ignore = "needs buildah with debian:bookworm-slim in its vfs store and docker-registry; .ci/run sets them up"]
fn registry_buildah_pushes_with_a_private_auth_file_verified_by_digest() {
    let package = "bdtest-bahpush";
    let password = "Buildah-push-pa55";
    let server = registry(password);
    let host = format!("127.0.0.1:{}", server.port);
    let tmp = tempfile::tempdir().unwrap();
    let test =
        fixture(package, &[(host.clone(), "REG")]).env("TMPDIR", tmp.path().to_str().unwrap());
    let env = [
        ("REG_USER", USER),
        ("REG_PASSWORD", password),
        ("STORAGE_DRIVER", "vfs"),
        ("BUILDAH_ISOLATION", "chroot"),
    ];
    let (code, stdout, stderr) = run(
        &test,
        &[
            "build",
            "--engine",
            "buildah",
            "--push",
            "--report",
            "report.json",
        ],
        &env,
    );
    let buildah_rmi = || {
        for tag in TAGS {
            for image in [
                format!("{package}:{tag}"),
                format!("{host}/bdtest/{package}:{tag}"),
            ] {
                let _ = Command::new("buildah")
                    .args(["--storage-driver", "vfs", "rmi", "-f", &image])
                    .output();
            }
        }
    };
    buildah_rmi();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&test.read("report.json")).unwrap();
    let pushes = report["push"]["targets"].as_array().unwrap();
    assert_eq!(pushes.len(), 3, "{report}");
    for push in pushes {
        assert_eq!(push["status"], "pushed", "{push}");
        let tag = push["reference"]
            .as_str()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1;
        assert_eq!(
            push["digest"].as_str().unwrap(),
            digest(server.port, password, &format!("bdtest/{package}"), tag)
        );
    }
    assert!(!stdout.contains(password) && !stderr.contains(password));
    no_file_holds(test.path(), password);
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
