//! The build context: the images repo, less what `.dockerignore` excludes,
//! scanned once per run and packed once as the tar every build sends. The
//! build stage hashes it, `check` looks COPY sources up in it, and engines
//! send it: it belongs to none of them. (What a template sees is
//! [`crate::render::metadata`].)

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use globset::GlobMatcher;

/// The directory the tool keeps its own state in (build logs), never sent
/// to the builder.
pub const STATE_DIR: &str = ".bentoml-docker";

/// A file of the context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Its path relative to the context root, `/`-separated.
    pub path: String,
    /// Its permission bits.
    pub mode: u32,
    /// The target, when it is a symbolic link.
    pub link: Option<PathBuf>,
}

/// The files of a build context.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    files: Vec<File>,
    tar: OnceLock<Result<Bytes, String>>,
}

/// One `.dockerignore` line.
#[derive(Debug)]
struct Pattern {
    matcher: GlobMatcher,
    exclusion: bool,
}

impl Context {
    /// Scans `root`, honouring its `.dockerignore`.
    ///
    /// # Errors
    /// When the directory or `.dockerignore` cannot be read, or a pattern is invalid.
    pub fn scan(root: &Path) -> Result<Self, String> {
        Self::scan_for(root, Path::new("generated"))
    }

    /// Scans `root` like [`Context::scan`], for the output directory
    /// `output` (as the plan records it: relative to `root` when inside):
    /// a run's staging trees and lock beside it are left out, and a
    /// symbolic link at `output` is followed, as generation writes there.
    ///
    /// # Errors
    /// When the directory or `.dockerignore` cannot be read, or a pattern is invalid.
    pub fn scan_for(root: &Path, output: &Path) -> Result<Self, String> {
        Self::scan_with(root, Vec::new(), output)
    }

    /// Scans `root` like [`Context::scan`], keeping `.dockerignore` and the
    /// files of `keep` (the Dockerfiles to build, relative to `root`) even
    /// when `.dockerignore` excludes them: the builder must read them, and
    /// the Docker CLI sends them regardless too.
    ///
    /// # Errors
    /// When the directory or `.dockerignore` cannot be read, or a pattern is invalid.
    pub fn scan_keeping(root: &Path, keep: &[String], output: &Path) -> Result<Self, String> {
        let mut keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        keep.push(".dockerignore");
        Self::scan_with(root, keep, output)
    }

    fn scan_with(root: &Path, mut keep: Vec<&str>, output: &Path) -> Result<Self, String> {
        keep.sort_unstable();
        let patterns = match fs::read_to_string(root.join(".dockerignore")) {
            Ok(text) => parse_dockerignore(&text)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read `.dockerignore`: {e}")),
        };
        let output = Output::new(output);
        let mut files = Vec::new();
        walk(root, "", &patterns, &keep, &output, &mut files)
            .map_err(|e| format!("cannot read the build context `{}`: {e}", root.display()))?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self {
            root: root.to_path_buf(),
            files,
            tar: OnceLock::new(),
        })
    }

    /// The context's root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every file, sorted by path.
    #[must_use]
    pub fn files(&self) -> &[File] {
        &self.files
    }

    /// The context as a tar, made on first use and shared by every build.
    /// Entries carry no time stamps or owners, so the same files give the
    /// same bytes.
    ///
    /// # Errors
    /// When a file cannot be read.
    pub fn tar(&self) -> Result<Bytes, String> {
        self.tar
            .get_or_init(|| self.pack().map(Bytes::from).map_err(|e| e.to_string()))
            .clone()
    }

    fn pack(&self) -> io::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        for file in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_mode(file.mode);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            if let Some(link) = &file.link {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, &file.path, link)?;
            } else {
                let data = fs::read(self.root.join(&file.path))?;
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, &file.path, data.as_slice())?;
            }
        }
        builder.into_inner()
    }
}

fn parse_dockerignore(text: &str) -> Result<Vec<Pattern>, String> {
    let mut patterns = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (exclusion, pattern) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
        let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("invalid `.dockerignore` pattern `{line}`: {e}"))?;
        patterns.push(Pattern {
            matcher: glob.compile_matcher(),
            exclusion,
        });
    }
    Ok(patterns)
}

/// Docker's rule: the last pattern that matches the path or one of its
/// parent directories decides; `!` patterns re-include.
fn ignored(path: &str, patterns: &[Pattern]) -> bool {
    let mut ignored = false;
    for pattern in patterns {
        let mut matched = pattern.matcher.is_match(path);
        if !matched {
            let mut parent = path;
            while let Some((dir, _)) = parent.rsplit_once('/') {
                if pattern.matcher.is_match(dir) {
                    matched = true;
                    break;
                }
                parent = dir;
            }
        }
        if matched {
            ignored = !pattern.exclusion;
        }
    }
    ignored
}

/// The output directory, as the walk meets it.
struct Output {
    /// Its path relative to the root, `/`-separated.
    path: String,
    /// The directory holding it.
    parent: String,
    /// The lock of a run writing it.
    lock: String,
    /// The start of its staging trees' names.
    staging: String,
}

impl Output {
    fn new(output: &Path) -> Self {
        let path = crate::render::metadata::slash_path(output);
        let path = path
            .trim_end_matches('/')
            .trim_start_matches("./")
            .to_string();
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", &path));
        Self {
            parent: parent.to_string(),
            lock: format!(".{name}.lock"),
            staging: format!(".{name}.staging-"),
            path,
        }
    }

    /// Whether `name` in the directory `prefix` is what a run writing the
    /// output has there while it runs: its lock, its staging trees, and
    /// the temporary `metadata.json` beside it. Gone at any moment.
    fn running(&self, prefix: &str, name: &str) -> bool {
        prefix == self.parent
            && (name == self.lock
                || name.starts_with(&self.staging)
                || name.starts_with(".metadata.json.staging-"))
    }
}

fn walk(
    root: &Path,
    prefix: &str,
    patterns: &[Pattern],
    keep: &[&str],
    output: &Output,
    out: &mut Vec<File>,
) -> io::Result<()> {
    for entry in fs::read_dir(root.join(prefix))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        // `.env` holds the registry credentials: never sent to a builder.
        if path == STATE_DIR || path == ".env" || output.running(prefix, &name) {
            continue;
        }
        let kind = entry.file_type()?;
        // A linked output directory is followed: its tree lives there.
        let linked_output = kind.is_symlink() && path == output.path && entry.path().is_dir();
        if kind.is_dir() || linked_output {
            // A directory is walked even when ignored: `!` may re-include inside it.
            walk(root, &path, patterns, keep, output, out)?;
            continue;
        }
        // Sockets, fifos and devices are not files a build can use: the
        // Docker CLI skips sockets too, and reading a fifo would block.
        if !kind.is_file() && !kind.is_symlink() {
            continue;
        }
        if ignored(&path, patterns) && keep.binary_search(&path.as_str()).is_err() {
            continue;
        }
        let metadata = entry.metadata()?;
        out.push(File {
            path,
            mode: metadata.permissions().mode() & 0o7777,
            link: kind
                .is_symlink()
                .then(|| fs::read_link(entry.path()))
                .transpose()?,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(context: &Context) -> Vec<&str> {
        context.files().iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn dockerignore_excludes_and_re_includes() {
        let dir = tempfile::tempdir().unwrap();
        for path in [
            "a.txt",
            "logs/x.log",
            "logs/keep.log",
            "docs/a/b.md",
            "tools/run.sh",
            ".bentoml-docker/logs/t.log",
            ".env",
        ] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        fs::write(
            dir.path().join(".dockerignore"),
            "# comment\nlogs\n!logs/keep.log\n**/*.md\n/a.txt\n",
        )
        .unwrap();
        let context = Context::scan(dir.path()).unwrap();
        assert_eq!(
            names(&context),
            [".dockerignore", "logs/keep.log", "tools/run.sh"]
        );
    }

    #[test]
    fn a_socket_or_fifo_in_the_repo_is_skipped_not_a_failure_or_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("tools")).unwrap();
        fs::write(dir.path().join("tools/run.sh"), "x").unwrap();
        let _socket =
            std::os::unix::net::UnixListener::bind(dir.path().join("tools/agent.sock")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("tools/pipe"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let context = Context::scan(dir.path()).unwrap();
        assert_eq!(names(&context), ["tools/run.sh"]);
        assert!(context.tar().is_ok());
    }

    #[test]
    fn the_staging_and_lock_of_the_output_in_use_are_left_out_wherever_it_is() {
        let dir = tempfile::tempdir().unwrap();
        for path in [
            "out/.generated.staging-4242-AbC123/app/debian12/Dockerfile",
            "out/.metadata.json.staging-4242-AbC123",
            "out/.generated.lock",
            "out/generated/app/debian12/Dockerfile",
            ".pkg.lock",
            ".other.staging-notes",
        ] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        assert_eq!(
            names(&Context::scan_for(dir.path(), Path::new("out/generated")).unwrap()),
            [
                ".other.staging-notes",
                ".pkg.lock",
                "out/generated/app/debian12/Dockerfile"
            ]
        );
    }

    #[test]
    fn a_linked_output_directory_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::create_dir_all(elsewhere.path().join("app")).unwrap();
        fs::write(elsewhere.path().join("app/Dockerfile"), "FROM x").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("generated")).unwrap();
        let context = Context::scan(dir.path()).unwrap();
        assert_eq!(names(&context), ["generated/app/Dockerfile"]);
        assert!(context.tar().is_ok());
    }

    #[test]
    fn a_concurrent_runs_staging_trees_and_lock_are_never_sent() {
        let dir = tempfile::tempdir().unwrap();
        for path in [
            ".generated.staging-4242-AbC123/app/debian12/Dockerfile",
            ".metadata.json.staging-4242-AbC123",
            ".generated.lock",
            "generated/app/debian12/Dockerfile",
        ] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        assert_eq!(
            names(&Context::scan(dir.path()).unwrap()),
            ["generated/app/debian12/Dockerfile"]
        );
    }

    #[test]
    fn the_dockerfiles_to_build_and_dockerignore_are_kept_when_excluded() {
        let dir = tempfile::tempdir().unwrap();
        for path in [
            "generated/app/debian12/Dockerfile",
            "generated/app/debian12/runtime/Dockerfile",
            "tools/run.sh",
            "notes.txt",
        ] {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        fs::write(dir.path().join(".dockerignore"), "*\n!tools\n").unwrap();
        assert_eq!(names(&Context::scan(dir.path()).unwrap()), ["tools/run.sh"]);
        let keep = ["generated/app/debian12/runtime/Dockerfile".to_string()];
        assert_eq!(
            names(&Context::scan_keeping(dir.path(), &keep, Path::new("generated")).unwrap()),
            [
                ".dockerignore",
                "generated/app/debian12/runtime/Dockerfile",
                "tools/run.sh"
            ]
        );
    }

    #[test]
    fn the_tar_is_the_same_for_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "x").unwrap();
        let first = Context::scan(dir.path()).unwrap().tar().unwrap();
        filetime_touch(&dir.path().join("f"));
        let second = Context::scan(dir.path()).unwrap().tar().unwrap();
        assert_eq!(first, second);
        let mut archive = tar::Archive::new(first.as_ref());
        let entries: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(entries, ["f"]);
    }

    fn filetime_touch(path: &Path) {
        let text = fs::read(path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(path, text).unwrap();
    }
}
