//! Writes results so that a reader never sees half of them: `generated/` is
//! built in a fresh directory beside it and swapped in with one atomic
//! `rename(2)` exchange; single files go through a temporary file and a
//! rename. A failure or a kill at any moment leaves the previous tree as it was.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why output could not be written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A file system operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The output directory holds something generation must not delete.
    #[error("refusing to replace `{path}`: {reason}")]
    #[diagnostic(help("generate into a directory of its own, e.g. `-dd generated`"))]
    WouldReplaceRepo {
        /// The output directory.
        path: PathBuf,
        /// What it holds.
        reason: String,
    },
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

const STAGING_SUFFIX: &str = ".staging-";

/// What committing a [`Tree`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The new tree replaced the old one.
    Replaced,
    /// The old tree already held exactly these files; nothing was touched.
    Unchanged,
    /// A check found that the old tree differs; nothing was touched.
    Stale,
}

/// The new contents of a directory, replacing the old tree as a whole on
/// commit; when every file is the same as before, nothing is written at all
/// (creating files is the slow part of generating, and a rerun after no
/// change should neither pay for it nor touch modification times).
#[derive(Debug)]
pub struct Tree {
    target: PathBuf,
    staging: Option<Staging>,
    /// Files found identical in the old tree, while nothing differed yet.
    same: Vec<PathBuf>,
    created: std::collections::HashSet<PathBuf>,
    /// Only compare: never write.
    check_only: bool,
    differs: bool,
}

impl Tree {
    /// A tree that is only compared with `target`, never written: its
    /// commit says whether `target` is stale.
    #[must_use]
    pub fn check(target: &Path) -> Self {
        Self {
            target: target.to_path_buf(),
            staging: None,
            same: Vec::new(),
            created: std::collections::HashSet::new(),
            check_only: true,
            differs: false,
        }
    }

    /// A new tree for `target`. What it replaces must look like generated
    /// output: it must not hold the manifest or any of `keep` (the template
    /// directories), and every file in it must be named as generation names
    /// files (`names`, or `*.md`), as `tools/` or the images repo would not be.
    ///
    /// # Errors
    /// When `target` holds something that is not generated.
    pub fn new(
        target: &Path,
        manifest: &Path,
        keep: &[PathBuf],
        names: &[&str],
    ) -> Result<Self, Error> {
        check_replaceable(target, manifest, keep, names)?;
        Ok(Self {
            target: target.to_path_buf(),
            staging: None,
            same: Vec::new(),
            created: std::collections::HashSet::new(),
            check_only: false,
            differs: false,
        })
    }

    /// Adds a file at `relative`.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn write(&mut self, relative: &Path, contents: &[u8]) -> Result<(), Error> {
        if self.staging.is_none()
            && fs::read(self.target.join(relative)).is_ok_and(|old| old == contents)
        {
            self.same.push(relative.to_path_buf());
            return Ok(());
        }
        if self.check_only {
            self.differs = true;
            return Ok(());
        }
        let root = self.start()?;
        if let Some(parent) = relative.parent()
            && self.created.insert(parent.to_path_buf())
        {
            let dir = root.join(parent);
            fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
        }
        let path = root.join(relative);
        fs::write(&path, contents).map_err(io_error("write", &path))
    }

    /// Starts the staging tree (once), with the files found unchanged so
    /// far; returns its root.
    fn start(&mut self) -> Result<PathBuf, Error> {
        if let Some(staging) = &self.staging {
            return Ok(staging.dir.path().to_path_buf());
        }
        let staging = Staging::new(&self.target)?;
        for relative in std::mem::take(&mut self.same) {
            let from = self.target.join(&relative);
            let to = staging.dir.path().join(&relative);
            if let Some(parent) = relative.parent()
                && self.created.insert(parent.to_path_buf())
            {
                let dir = staging.dir.path().join(parent);
                fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
            }
            if fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).map_err(io_error("copy", &from))?;
            }
        }
        let root = staging.dir.path().to_path_buf();
        self.staging = Some(staging);
        Ok(root)
    }

    /// Puts the new tree in place (or leaves the old one, when identical).
    ///
    /// # Errors
    /// When the swap fails; the old tree is then untouched.
    pub fn commit(mut self) -> Result<Outcome, Error> {
        if self.staging.is_none() {
            let mut old = 0;
            let same = !self.differs
                && count_files(&self.target, &mut old).is_ok()
                && old == self.same.len()
                && old > 0;
            if same {
                return Ok(Outcome::Unchanged);
            }
            if self.check_only {
                return Ok(Outcome::Stale);
            }
            self.start()?;
        }
        match self.staging {
            Some(staging) => staging.commit().map(|()| Outcome::Replaced),
            None => Ok(Outcome::Unchanged),
        }
    }
}

/// Compares two files in chunks, so large files never sit in memory whole.
fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
    use std::io::Read;
    if fs::metadata(a)?.len() != fs::metadata(b)?.len() {
        return Ok(false);
    }
    let (mut a, mut b) = (fs::File::open(a)?, fs::File::open(b)?);
    let (mut buf_a, mut buf_b) = (vec![0; 64 * 1024], vec![0; 64 * 1024]);
    loop {
        let n = a.read(&mut buf_a)?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut buf_b[..n])?;
        if buf_a[..n] != buf_b[..n] {
            return Ok(false);
        }
    }
}

fn count_files(dir: &Path, count: &mut usize) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            count_files(&entry.path(), count)?;
        } else {
            *count += 1;
        }
    }
    Ok(())
}

fn check_replaceable(
    target: &Path,
    manifest: &Path,
    keep: &[PathBuf],
    names: &[&str],
) -> Result<(), Error> {
    let refuse = |reason: String| Error::WouldReplaceRepo {
        path: target.to_path_buf(),
        reason,
    };
    let Ok(absolute_target) = absolute(target) else {
        return Ok(());
    };
    if absolute(manifest).is_ok_and(|m| m.starts_with(&absolute_target)) {
        return Err(refuse("it holds the manifest".into()));
    }
    for dir in keep {
        if absolute(dir).is_ok_and(|d| d.starts_with(&absolute_target)) {
            return Err(refuse(format!(
                "it holds the templates in `{}`",
                dir.display()
            )));
        }
    }
    match foreign_file(target, names) {
        Some(file) => Err(refuse(format!(
            "it holds `{}`, which no template renders (remove it if it is stale)",
            file.strip_prefix(target).unwrap_or(&file).display()
        ))),
        None => Ok(()),
    }
}

/// The first file under `dir` that generation would not have written.
fn foreign_file(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if let Some(found) = foreign_file(&path, names) {
                return Some(found);
            }
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".md") || names.contains(&name.as_str())) {
            return Some(path);
        }
    }
    None
}

/// A directory being filled, that replaces `target` as a whole on commit.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    dir: tempfile::TempDir,
}

impl Staging {
    /// Starts a new tree for `target`, beside it (so the swap is a rename on
    /// one file system). `manifest` must not end up inside what is replaced.
    ///
    /// # Errors
    /// When the directory cannot be created, or `target` holds the manifest.
    pub fn new(target: &Path) -> Result<Self, Error> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
        let name = target
            .file_name()
            .map_or_else(|| "generated".into(), |n| n.to_string_lossy().into_owned());
        remove_stale(&parent, &name);
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}{STAGING_SUFFIX}"))
            .tempdir_in(&parent)
            .map_err(io_error("create a directory in", &parent))?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_error("set permissions of", dir.path()))?;
        Ok(Self {
            target: target.to_path_buf(),
            dir,
        })
    }

    /// Writes `contents` at `relative` inside the new tree.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, relative: &Path, contents: &[u8]) -> Result<(), Error> {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        }
        fs::write(&path, contents).map_err(io_error("write", &path))
    }

    /// Puts the new tree in place of the old one, atomically.
    ///
    /// # Errors
    /// When the swap fails; the old tree is then untouched.
    pub fn commit(self) -> Result<(), Error> {
        let staging = self.dir.keep();
        let swapped = match fs::symlink_metadata(&self.target) {
            Ok(_) => exchange(&staging, &self.target),
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(&staging, &self.target),
            Err(e) => Err(e),
        };
        if let Err(source) = swapped {
            let _ = fs::remove_dir_all(&staging);
            return Err(Error::Io {
                action: "replace",
                path: self.target,
                source,
            });
        }
        // `staging` now holds the previous tree (or nothing).
        match fs::remove_dir_all(&staging) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_error("remove the previous tree at", &staging)(e))
            }
            _ => Ok(()),
        }
    }
}

/// Swaps two paths with `renameat2(RENAME_EXCHANGE)`; where the file system
/// cannot, falls back to two renames (a short window without `target`).
fn exchange(staging: &Path, target: &Path) -> io::Result<()> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        staging,
        rustix::fs::CWD,
        target,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP) => {
            let mut old = staging.as_os_str().to_os_string();
            old.push(".old");
            let old = PathBuf::from(old);
            fs::rename(target, &old)?;
            fs::rename(staging, target)?;
            fs::rename(&old, staging)
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes trees a killed run left beside the target.
fn remove_stale(parent: &Path, name: &str) {
    let prefix = format!(".{name}{STAGING_SUFFIX}");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn absolute(path: &Path) -> io::Result<PathBuf> {
    match fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(_) => {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            Ok(fs::canonicalize(parent)?.join(path.file_name().unwrap_or_default()))
        }
    }
}

/// A file written through a temporary file beside it and renamed into
/// place on [`AtomicFile::commit`]; dropped without commit, nothing changes.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    file: io::BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    /// Starts writing `path`.
    ///
    /// # Errors
    /// When the temporary file cannot be created.
    pub fn new(path: &Path) -> Result<Self, Error> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        let file = tempfile::NamedTempFile::new_in(parent)
            .map_err(io_error("create a file in", parent))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: io::BufWriter::new(file),
        })
    }

    /// Puts the file in place; `false` when the file already held exactly
    /// this and was left as it was.
    ///
    /// # Errors
    /// When it cannot be written or renamed.
    pub fn commit(self) -> Result<bool, Error> {
        let path = self.path;
        let file = self
            .file
            .into_inner()
            .map_err(|e| io_error("write", &path)(e.into_error()))?;
        if same_contents(file.path(), &path).unwrap_or(false) {
            return Ok(false);
        }
        fs::set_permissions(file.path(), fs::Permissions::from_mode(0o644))
            .map_err(io_error("set permissions of", &path))?;
        file.persist(&path)
            .map_err(|e| io_error("write", &path)(e.error))?;
        Ok(true)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_the_whole_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        fs::create_dir_all(target.join("old")).unwrap();
        fs::write(target.join("old/Dockerfile"), "old").unwrap();
        let staging = Staging::new(&target).unwrap();
        staging.write(Path::new("new/Dockerfile"), b"new").unwrap();
        staging.commit().unwrap();
        assert!(!target.join("old").exists());
        assert_eq!(
            fs::read_to_string(target.join("new/Dockerfile")).unwrap(),
            "new"
        );
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("generated")]);
    }

    #[test]
    fn dropping_a_staging_tree_leaves_the_old_one() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        fs::create_dir_all(&target).unwrap();
        fs::write(target.join("keep"), "kept").unwrap();
        let staging = Staging::new(&target).unwrap();
        staging.write(Path::new("x"), b"x").unwrap();
        drop(staging);
        assert_eq!(fs::read_to_string(target.join("keep")).unwrap(), "kept");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_identical_tree_is_not_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let manifest = tmp.path().join("manifest.yml");
        let write = |contents: &[u8]| {
            let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile", "extra"]).unwrap();
            tree.write(Path::new("a/Dockerfile"), b"a").unwrap();
            tree.write(Path::new("b/Dockerfile"), contents).unwrap();
            tree.commit().unwrap()
        };
        assert_eq!(write(b"b"), Outcome::Replaced);
        let inode =
            |p: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(target.join(p)).unwrap());
        let before = inode("a/Dockerfile");
        assert_eq!(write(b"b"), Outcome::Unchanged);
        assert_eq!(inode("a/Dockerfile"), before);
        assert_eq!(write(b"changed"), Outcome::Replaced);
        assert_eq!(
            fs::read_to_string(target.join("a/Dockerfile")).unwrap(),
            "a"
        );
        assert_eq!(
            fs::read_to_string(target.join("b/Dockerfile")).unwrap(),
            "changed"
        );
        // An extra file in the old tree is a difference too.
        fs::write(target.join("a/extra"), "x").unwrap();
        assert_eq!(write(b"changed"), Outcome::Replaced);
        assert!(!target.join("a/extra").exists());
    }

    #[test]
    fn the_images_repo_itself_is_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = tmp.path().join("manifest.yml");
        fs::write(&manifest, "").unwrap();
        let error = Tree::new(tmp.path(), &manifest, &[], &["Dockerfile"]).unwrap_err();
        assert!(matches!(error, Error::WouldReplaceRepo { .. }));
        // Nor a directory of the repo that is not generated output.
        let tools = tmp.path().join("tools");
        fs::create_dir_all(&tools).unwrap();
        fs::write(tools.join("entrypoint.sh"), "#!/bin/sh").unwrap();
        fs::create_dir_all(tools.join("model-server")).unwrap();
        fs::write(tools.join("model-server/run.sh"), "#!/bin/sh").unwrap();
        let error = Tree::new(&tools, &manifest, &[], &["Dockerfile"]).unwrap_err();
        assert!(error.to_string().contains("it holds `"), "{error}");
        let templates = tmp.path().join("out/templates/debian");
        fs::create_dir_all(&templates).unwrap();
        let error = Tree::new(
            &tmp.path().join("out"),
            &manifest,
            &[templates],
            &["Dockerfile"],
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("it holds the templates"),
            "{error}"
        );
    }
}
