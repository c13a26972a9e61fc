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
///
/// Files are created by a few writer threads while the caller goes on
/// rendering: creating files and directories is the file system's work,
/// and on a disk it takes longer than rendering them.
#[derive(Debug)]
pub struct Tree {
    target: PathBuf,
    /// Declared before `staging`: writers finish before the staging tree
    /// is removed on drop.
    writers: Option<Writers>,
    staging: Option<Staging>,
    /// Files found identical in the old tree, while nothing differed yet.
    same: Vec<PathBuf>,
    /// Only compare: never write.
    check_only: bool,
    differs: bool,
    /// A write failed: the tree cannot be committed.
    failed: bool,
}

impl Tree {
    /// A tree that is only compared with `target`, never written: its
    /// commit says whether `target` is stale.
    #[must_use]
    pub fn check(target: &Path) -> Self {
        Self {
            target: target.to_path_buf(),
            writers: None,
            staging: None,
            same: Vec::new(),
            check_only: true,
            differs: false,
            failed: false,
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
            writers: None,
            staging: None,
            same: Vec::new(),
            check_only: false,
            differs: false,
            failed: false,
        })
    }

    /// Adds a file at `relative`. (Adding a directory's files one after
    /// another lets its writer create the directory once.)
    ///
    /// # Errors
    /// When it cannot be written (here or, reported later, by a writer);
    /// the tree cannot be committed then.
    pub fn write(&mut self, relative: &Path, contents: Vec<u8>) -> Result<(), Error> {
        let written = self.add(relative, contents);
        self.failed |= written.is_err();
        written
    }

    fn add(&mut self, relative: &Path, contents: Vec<u8>) -> Result<(), Error> {
        if self.failed {
            return Err(self.failure());
        }
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
        self.writers(&root)?.send(Job::Write {
            path: root.join(relative),
            contents,
        })
    }

    /// The writer threads, started on first use.
    fn writers(&mut self, root: &Path) -> Result<&mut Writers, Error> {
        let writers = match self.writers.take() {
            Some(writers) => writers,
            None => Writers::new(root)?,
        };
        Ok(self.writers.insert(writers))
    }

    fn failure(&self) -> Error {
        Error::Io {
            action: "write",
            path: self.target.clone(),
            source: io::Error::other("an earlier file could not be written"),
        }
    }

    /// Starts the staging tree (once), with the files found unchanged so
    /// far; returns its root.
    fn start(&mut self) -> Result<PathBuf, Error> {
        if let Some(staging) = &self.staging {
            return Ok(staging.dir.path().to_path_buf());
        }
        let staging = Staging::new(&self.target)?;
        let root = staging.dir.path().to_path_buf();
        self.staging = Some(staging);
        let same = std::mem::take(&mut self.same);
        if !same.is_empty() {
            let target = self.target.clone();
            let writers = self.writers(&root)?;
            for relative in same {
                writers.send(Job::Link {
                    from: target.join(&relative),
                    to: root.join(&relative),
                })?;
            }
        }
        Ok(root)
    }

    /// Puts the new tree in place (or leaves the old one, when identical).
    ///
    /// # Errors
    /// When a file could not be written or the swap fails; the old tree is
    /// then untouched.
    pub fn commit(mut self) -> Result<Outcome, Error> {
        if self.failed {
            return Err(self.failure());
        }
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
        if let Some(writers) = self.writers.take() {
            writers.finish()?;
        }
        match self.staging.take() {
            Some(staging) => staging.commit().map(|()| Outcome::Replaced),
            None => Ok(Outcome::Unchanged),
        }
    }
}

/// Work for a writer thread.
enum Job {
    /// Create `path` with `contents`.
    Write { path: PathBuf, contents: Vec<u8> },
    /// Hard-link (or copy) an unchanged file of the old tree.
    Link { from: PathBuf, to: PathBuf },
}

impl Job {
    fn path(&self) -> &Path {
        match self {
            Self::Write { path, .. } | Self::Link { to: path, .. } => path,
        }
    }

    fn run(self) -> Result<(), Error> {
        match self {
            Self::Write { path, contents } => {
                fs::write(&path, contents).map_err(io_error("write", &path))
            }
            Self::Link { from, to } => {
                if fs::hard_link(&from, &to).is_err() {
                    fs::copy(&from, &to).map_err(io_error("copy", &from))?;
                }
                Ok(())
            }
        }
    }
}

/// Writer threads. A directory's files all go to one thread, in order, so
/// each thread creates the directories of its own files; the first error
/// stops its thread and is reported by [`Writers::finish`].
#[derive(Debug)]
struct Writers {
    /// The staging tree, for messages.
    root: PathBuf,
    senders: Vec<std::sync::mpsc::SyncSender<Job>>,
    threads: Vec<std::thread::JoinHandle<Result<(), Error>>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Job").field(&self.path()).finish()
    }
}

impl Writers {
    /// Two threads at least (the caller renders meanwhile), four at most
    /// (more only contend for the file system's journal).
    /// Fewer start when the system refuses threads; none is an error.
    fn new(root: &Path) -> Result<Self, Error> {
        let count = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let mut senders = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for _ in 0..count {
            // Bounded: rendering never runs far ahead of the disk, so memory
            // does not grow with the output.
            let (sender, receiver) = std::sync::mpsc::sync_channel::<Job>(64);
            let spawned = std::thread::Builder::new()
                .name("writer".into())
                .spawn(move || {
                    let mut current: Option<PathBuf> = None;
                    for job in receiver {
                        let parent = job.path().parent().map(Path::to_path_buf);
                        if let Some(parent) = parent
                            && current.as_ref() != Some(&parent)
                        {
                            fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
                            current = Some(parent);
                        }
                        job.run()?;
                    }
                    Ok(())
                });
            match spawned {
                Ok(thread) => {
                    senders.push(sender);
                    threads.push(thread);
                }
                Err(source) if threads.is_empty() => {
                    return Err(Error::Io {
                        action: "start a thread writing into",
                        path: root.to_path_buf(),
                        source,
                    });
                }
                Err(_) => break,
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            senders,
            threads,
        })
    }

    fn send(&mut self, job: Job) -> Result<(), Error> {
        use std::hash::{Hash, Hasher};
        if self.senders.is_empty() {
            return Err(self.stopped("the writer threads stopped"));
        }
        let mut hasher = std::hash::DefaultHasher::new();
        job.path().parent().hash(&mut hasher);
        // The modulo is below the number of threads, which fits in usize.
        #[allow(clippy::cast_possible_truncation)]
        let index = (hasher.finish() % self.senders.len() as u64) as usize;
        if self.senders[index].send(job).is_err() {
            // The thread stopped on an error: report it.
            self.senders.clear();
            self.join()?;
            return Err(self.stopped("a writer thread stopped"));
        }
        Ok(())
    }

    /// Waits for every file to be written.
    fn finish(mut self) -> Result<(), Error> {
        self.senders.clear();
        self.join()
    }

    fn stopped(&self, why: &str) -> Error {
        Error::Io {
            action: "write files into",
            path: self.root.clone(),
            source: io::Error::other(why),
        }
    }

    fn join(&mut self) -> Result<(), Error> {
        let mut result = Ok(());
        for thread in std::mem::take(&mut self.threads) {
            let outcome = thread
                .join()
                .unwrap_or_else(|_| Err(self.stopped("a writer thread panicked")));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.senders.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
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
            tree.write(Path::new("a/Dockerfile"), b"a".to_vec())
                .unwrap();
            tree.write(Path::new("b/Dockerfile"), contents.to_vec())
                .unwrap();
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

    #[test]
    fn writer_threads_write_every_file_in_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let manifest = tmp.path().join("manifest.yml");
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile", "run.sh"]).unwrap();
        for i in 0..300 {
            let dir = PathBuf::from(format!("pkg/distro{i}"));
            tree.write(&dir.join("Dockerfile"), format!("FROM {i}").into_bytes())
                .unwrap();
            tree.write(
                &dir.join("runtime/Dockerfile"),
                format!("runtime {i}").into_bytes(),
            )
            .unwrap();
            tree.write(&dir.join("runtime/run.sh"), vec![b'x'; i])
                .unwrap();
        }
        tree.write(Path::new("pkg/README.md"), b"docs".to_vec())
            .unwrap();
        assert_eq!(tree.commit().unwrap(), Outcome::Replaced);
        for i in 0..300 {
            let dir = target.join(format!("pkg/distro{i}"));
            assert_eq!(
                fs::read_to_string(dir.join("Dockerfile")).unwrap(),
                format!("FROM {i}")
            );
            assert_eq!(
                fs::read_to_string(dir.join("runtime/Dockerfile")).unwrap(),
                format!("runtime {i}")
            );
            assert_eq!(fs::read(dir.join("runtime/run.sh")).unwrap().len(), i);
        }
        let mut count = 0;
        count_files(&target, &mut count).unwrap();
        assert_eq!(count, 901);
        // Staging trees are gone: only `generated` is left.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_a_writer_cannot_create_fails_the_commit_and_keeps_the_old_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let manifest = tmp.path().join("manifest.yml");
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile"]).unwrap();
        tree.write(Path::new("a/Dockerfile"), b"old".to_vec())
            .unwrap();
        tree.commit().unwrap();
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile"]).unwrap();
        // `b` is a file, so nothing can be created under it.
        tree.write(Path::new("b"), b"file".to_vec()).unwrap();
        let mut result = Ok(());
        for i in 0..200 {
            // The error surfaces here once the writer stopped, or at commit.
            result = tree.write(
                &Path::new("b").join(format!("{i}/Dockerfile")),
                b"x".to_vec(),
            );
            if result.is_err() {
                break;
            }
        }
        let error = match result {
            Err(error) => {
                // The tree is spoiled: nothing more is written or committed.
                assert!(
                    tree.write(Path::new("c/Dockerfile"), b"c".to_vec())
                        .is_err()
                );
                assert!(tree.commit().is_err());
                error
            }
            Ok(()) => tree.commit().unwrap_err(),
        };
        assert!(matches!(error, Error::Io { .. }), "{error}");
        assert_eq!(
            fs::read_to_string(target.join("a/Dockerfile")).unwrap(),
            "old"
        );
    }
}
