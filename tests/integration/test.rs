//! A small builder to run the binary in a temporary images repo.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bentoml-docker");

/// The fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    removed: Vec<String>,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            args: Vec::new(),
            envs: Vec::new(),
            removed: Vec::new(),
        }
    }

    /// A copy of `tests/fixtures/<name>` as the images repo.
    pub fn fixture(name: &str) -> Self {
        let test = Self::new();
        copy_dir(&fixtures().join(name), test.path());
        test
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(self, path: &str, contents: &str) -> Self {
        let path = self.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
        self
    }

    pub fn manifest(self, contents: &str) -> Self {
        self.file("manifest.yml", contents)
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(ToString::to_string).collect();
        self
    }

    /// Sets an environment variable for the runs.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.to_string(), value.to_string()));
        self
    }

    /// Removes an environment variable (one the test process has) for the runs.
    pub fn env_remove(mut self, name: &str) -> Self {
        self.removed.push(name.to_string());
        self
    }

    /// The binary with `args` (not the builder's), to run in the repo with
    /// the builder's environment and `NO_COLOR`: the one place a command
    /// for the binary is made. For what [`Test::run`] does not do: other
    /// standard streams, more variables, a child to signal or kill.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.args(args);
        self.in_repo(command)
    }

    /// As [`Test::command`], the binary run through `wrapper` (`setpriv
    /// --reuid=65534 ...`), which takes the program and its arguments last.
    pub fn command_through(&self, wrapper: &[&str], args: &[&str]) -> Command {
        let mut command = Command::new(wrapper[0]);
        command.args(&wrapper[1..]).arg(BIN).args(args);
        self.in_repo(command)
    }

    fn in_repo(&self, mut command: Command) -> Command {
        command
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .envs(self.envs.iter().map(|(k, v)| (k, v)));
        for name in &self.removed {
            command.env_remove(name);
        }
        command
    }

    /// Starts `args` with standard output and error piped, for a test that
    /// signals, kills or waits on the child.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn run(&self) -> Output {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let output = self.command(&args).output().unwrap();
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs `args` (not the builder's) in the repo, killed if it has not
    /// ended within `limit`: `None` then (a hang, where the test expects
    /// an answer).
    pub fn run_within(&self, args: &[&str], limit: std::time::Duration) -> Option<Output> {
        use std::io::Read;
        let mut child = self
            .command(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let reader = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = reader(Box::new(child.stdout.take().unwrap()));
        let stderr = reader(Box::new(child.stderr.take().unwrap()));
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Some(Output {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        })
    }

    #[track_caller]
    pub fn success(&self) -> Output {
        let output = self.run();
        assert_eq!(
            output.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            output.stdout, output.stderr
        );
        output
    }

    #[track_caller]
    pub fn failure(&self, code: i32) -> Output {
        let output = self.run();
        assert_eq!(
            output.code, code,
            "stdout:\n{}\nstderr:\n{}",
            output.stdout, output.stderr
        );
        output
    }

    /// Every file under `dir`, sorted, with its contents: one snapshot.
    pub fn tree(&self, dir: &str) -> String {
        let mut files = Vec::new();
        list(&self.path().join(dir), &mut files);
        files.sort();
        let mut out = String::new();
        for file in files {
            let relative = file
                .strip_prefix(self.path())
                .unwrap()
                .display()
                .to_string();
            let _ = writeln!(
                out,
                "=== {relative}
{}",
                fs::read_to_string(&file).unwrap()
            );
        }
        out
    }

    pub fn read(&self, path: &str) -> String {
        fs::read_to_string(self.path().join(path)).unwrap()
    }
}

fn list(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            list(&path, out);
        } else {
            out.push(path);
        }
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
