//! Writes results so that a reader never sees half of them: `generated/` is
//! built in a fresh directory beside it and swapped in with one atomic
//! `rename(2)` exchange; single files go through a temporary file and a
//! rename. A failure or a kill at any moment leaves the previous tree as it was.
//!
//! Runs that write the same directory take turns under a lock beside it, and
//! each staging tree or temporary file is named after its run's PID and
//! locked by it while it lives: what a killed run left is recognised, and
//! removed by the next run, and a live run's is never touched.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::fs::FlockOperation;
use rustix::io::Errno;

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
    /// A path that must be a directory (or a regular file) is something else.
    #[error("`{path}` is {found}, not {expected}")]
    #[diagnostic(help("name another path, or move this one out of the way; it was left as it is"))]
    WrongKind {
        /// The path given (or the first of its parents that exists).
        path: PathBuf,
        /// What it is.
        found: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A symbolic link that leads nowhere.
    #[error("`{path}` is a symbolic link to `{to}`, which {why}")]
    #[diagnostic(help(
        "links are followed (the link is kept): create what it points to, or remove the link"
    ))]
    BrokenLink {
        /// The link.
        path: PathBuf,
        /// What it points to.
        to: PathBuf,
        /// `does not exist`, or a loop.
        why: &'static str,
    },
    /// The previous tree holds a file or directory that cannot be removed,
    /// so the new tree is not swapped in (it would be left beside it).
    #[error("cannot replace `{path}`: `{blocking}` cannot be removed")]
    #[diagnostic(help(
        "make it removable (permissions, `chattr -i`) or remove it, then run again; nothing was changed"
    ))]
    Unremovable {
        /// The directory that would be replaced.
        path: PathBuf,
        /// What cannot be removed.
        blocking: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file named as the lock holds something this tool did not write.
    #[error("`{path}` is not a lock this tool made: it is left as it is")]
    #[diagnostic(help(
        "the lock of the output directory goes there: move this file away, or generate elsewhere"
    ))]
    ForeignLock {
        /// The file.
        path: PathBuf,
    },
    /// A signal came while waiting for the lock.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// 2 when the output path itself is wrong (the images repo, a file, a
    /// broken link, another tool's lock): the user gives another; 130 for
    /// an interruption; 1 when the file system failed under a good path.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::WouldReplaceRepo { .. }
            | Self::WrongKind { .. }
            | Self::BrokenLink { .. }
            | Self::ForeignLock { .. } => 2,
            Self::Interrupted => 130,
            Self::Io { .. } | Self::Unremovable { .. } => 1,
        }
    }
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
    pub fn commit(self) -> Result<Outcome, Error> {
        self.commit_with(&mut || Ok(()))
    }

    /// [`Tree::commit`], calling `swapped` right after the new tree took
    /// the old one's place and before the old one is removed (what goes
    /// with the tree, `metadata.json`, is put in place there: a kill
    /// during the removal leaves both new). Not called when nothing was
    /// swapped.
    ///
    /// # Errors
    /// As [`Tree::commit`], or what `swapped` returns.
    pub fn commit_with(
        mut self,
        swapped: &mut dyn FnMut() -> Result<(), Error>,
    ) -> Result<Outcome, Error> {
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
            Some(staging) => staging.commit_with(swapped).map(|()| Outcome::Replaced),
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

/// Refuses an output directory that is the images repo `root` or one of
/// its parents: replacing it would take the repo with it.
///
/// # Errors
/// When `output` is `root` or holds it.
pub fn refuse_repo_or_parent(output: &Path, root: &Path) -> Result<(), Error> {
    let (Ok(output_abs), Ok(root_abs)) = (absolute(output), absolute(root)) else {
        return Ok(());
    };
    if root_abs.starts_with(&output_abs) {
        return Err(Error::WouldReplaceRepo {
            path: output.to_path_buf(),
            reason: "it is the images repo or holds it".into(),
        });
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
    /// Held while the tree lives: a run that finds it locked leaves it.
    _held: Option<fs::File>,
}

impl Staging {
    /// Starts a new tree for `target`, beside it (so the swap is a rename on
    /// one file system), named `.<name>.staging-<pid>-<random>`.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn new(target: &Path) -> Result<Self, Error> {
        let (parent, name) = split(target);
        fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
        let dir = tempfile::Builder::new()
            .prefix(&staging_prefix(&name))
            .tempdir_in(&parent)
            .map_err(io_error("create a directory in", &parent))?;
        let held = hold(dir.path());
        mark(dir.path());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_error("set permissions of", dir.path()))?;
        Ok(Self {
            target: target.to_path_buf(),
            dir,
            _held: held,
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

    /// Puts the new tree in place of the old one, atomically, and removes
    /// the old one.
    ///
    /// # Errors
    /// When the old tree could not be removed whole (checked first: the new
    /// tree is not swapped in then), or the swap fails; the old tree is then
    /// untouched.
    pub fn commit(self) -> Result<(), Error> {
        self.commit_with(&mut || Ok(()))
    }

    /// [`Staging::commit`], calling `swapped` between the swap and the
    /// removal of the old tree (see [`Tree::commit_with`]).
    ///
    /// # Errors
    /// As [`Staging::commit`], or what `swapped` returns (the old tree is
    /// removed all the same).
    pub fn commit_with(self, after: &mut dyn FnMut() -> Result<(), Error>) -> Result<(), Error> {
        let old = fs::symlink_metadata(&self.target);
        if let Ok(metadata) = &old {
            // Resolved before, but something may have taken its place since.
            if !metadata.is_dir() {
                return Err(Error::WrongKind {
                    path: self.target.clone(),
                    found: crate::diagnostic::file_kind(metadata.file_type()).into(),
                    expected: "a directory",
                });
            }
            if let Some((blocking, source)) = unremovable(&self.target) {
                return Err(Error::Unremovable {
                    path: self.target.clone(),
                    blocking,
                    source,
                });
            }
        }
        let staging = self.dir.keep();
        let swapped = match old {
            Ok(_) => {
                // Once swapped, the staging name holds the old tree: marked,
                // a kill before its removal leaves what the next run removes.
                mark(&self.target);
                exchange(&staging, &self.target)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(&staging, &self.target),
            Err(e) => Err(e),
        };
        if let Err(source) = swapped {
            let _ = remove_tree(&staging);
            return Err(Error::Io {
                action: "replace",
                path: self.target,
                source,
            });
        }
        let done = after();
        // `staging` now holds the previous tree (or nothing).
        let removed =
            remove_tree(&staging).map_err(io_error("remove the previous tree at", &staging));
        done.and(removed)
    }
}

/// The first entry of the tree at `dir` that could not be removed: a
/// directory this process may not empty, an immutable or append-only file
/// or directory (not even root may unlink those), or another file system
/// mounted inside. Checked before a tree is swapped in, so that the
/// previous one is never left beside it, half removed.
fn unremovable(dir: &Path) -> Option<(PathBuf, io::Error)> {
    let device = match fs::symlink_metadata(dir) {
        Ok(metadata) => metadata.dev(),
        Err(e) => return Some((dir.to_path_buf(), e)),
    };
    unremovable_in(dir, device)
}

fn unremovable_in(dir: &Path, device: u64) -> Option<(PathBuf, io::Error)> {
    use rustix::fs::Access;
    if let Err(e) = rustix::fs::access(dir, Access::READ_OK | Access::WRITE_OK | Access::EXEC_OK) {
        return Some((dir.to_path_buf(), e.into()));
    }
    if pinned(dir) {
        return Some((dir.to_path_buf(), Errno::PERM.into()));
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Some((dir.to_path_buf(), e)),
    };
    for entry in entries {
        let (path, metadata) = match entry.and_then(|e| Ok((e.path(), e.metadata()?))) {
            Ok(found) => found,
            Err(e) => return Some((dir.to_path_buf(), e)),
        };
        if metadata.dev() != device || (metadata.is_dir() && mount_root(&path)) {
            return Some((path, Errno::BUSY.into()));
        }
        if metadata.is_dir() {
            if let Some(found) = unremovable_in(&path, device) {
                return Some(found);
            }
        } else if metadata.is_file() && pinned(&path) {
            return Some((path, Errno::PERM.into()));
        }
    }
    None
}

/// Whether the directory `path` (not followed) is where a file system is
/// mounted: a bind mount of a directory of the same file system has the
/// same device number as its parent, so only the kernel's mount attribute
/// (or, before it, a mount ID that differs from the parent's) tells it.
fn mount_root(path: &Path) -> bool {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
    let Ok(found) = rustix::fs::statx(rustix::fs::CWD, path, flags, StatxFlags::MNT_ID) else {
        return false;
    };
    if found
        .stx_attributes_mask
        .contains(StatxAttributes::MOUNT_ROOT)
    {
        return found.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let parent = parent.unwrap_or(Path::new("."));
    let has_id = |mask: u32| StatxFlags::from_bits_retain(mask).contains(StatxFlags::MNT_ID);
    has_id(found.stx_mask)
        && rustix::fs::statx(rustix::fs::CWD, parent, flags, StatxFlags::MNT_ID)
            .is_ok_and(|p| has_id(p.stx_mask) && p.stx_mnt_id != found.stx_mnt_id)
}

/// Removes the tree at `dir` as `fs::remove_dir_all` would, but never
/// descends into a file system mounted inside it (a bind mount of a
/// user's directory would lose its files): such a mount stops the removal
/// with `EBUSY`, its contents untouched.
fn remove_tree(dir: &Path) -> io::Result<()> {
    let metadata = match fs::symlink_metadata(dir) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !metadata.is_dir() {
        return fs::remove_file(dir);
    }
    remove_tree_in(dir, metadata.dev())
}

fn remove_tree_in(dir: &Path, device: u64) -> io::Result<()> {
    if mount_root(dir) {
        return Err(Errno::BUSY.into());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let metadata = entry.metadata()?;
        if metadata.is_dir() {
            if metadata.dev() != device {
                return Err(Errno::BUSY.into());
            }
            remove_tree_in(&path, device)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    fs::remove_dir(dir)
}

/// Whether the file or directory `path` is immutable or append-only
/// (`chattr +i`, `+a`); `false` where that cannot be told.
fn pinned(path: &Path) -> bool {
    use rustix::fs::{IFlags, Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    rustix::fs::open(path, flags, Mode::empty())
        .and_then(rustix::fs::ioctl_getflags)
        .is_ok_and(|f| f.intersects(IFlags::IMMUTABLE | IFlags::APPEND))
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
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
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

/// The directory holding `target`, and `target`'s name.
fn split(target: &Path) -> (PathBuf, String) {
    let parent = parent_of(target).to_path_buf();
    let name = target
        .file_name()
        .map_or_else(|| "generated".into(), |n| n.to_string_lossy().into_owned());
    (parent, name)
}

/// The directory holding `path`: its parent, or `.` for a bare name.
#[must_use]
pub fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The start of the name of every staging tree or temporary file of `name`,
/// before the owner's PID.
fn staging_prefix(name: &str) -> String {
    format!(".{name}{STAGING_SUFFIX}{}-", std::process::id())
}

/// Opens `path` and takes an exclusive `flock(2)` on it, held as long as
/// the file is open; `None` where the file system cannot lock.
fn hold(path: &Path) -> Option<fs::File> {
    try_lock(path).ok()
}

/// Opens `path` and tries its exclusive `flock(2)` without waiting: the
/// file, held while open; `Err(Some(WOULDBLOCK))` when another holds it,
/// `Err(None)` when it cannot be opened.
fn try_lock(path: &Path) -> Result<fs::File, Option<Errno>> {
    let file = fs::File::open(path).map_err(|_| None)?;
    rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).map_err(Some)?;
    Ok(file)
}

/// The extended attribute that marks a staging tree or temporary file as
/// this tool's: a user's file that only looks alike never carries it.
const MARK: &str = "user.bentoml-docker";
const MARK_VALUE: &[u8] = b"staging";

/// Marks `path` (not followed) as made by this tool; where the file
/// system has no extended attributes, nothing is marked and what a killed
/// run leaves there is never removed (rather than removing a user's file).
fn mark(path: &Path) {
    let _ = rustix::fs::lsetxattr(path, MARK, MARK_VALUE, rustix::fs::XattrFlags::empty());
}

fn marked(path: &Path) -> bool {
    let mut value = [0_u8; 16];
    rustix::fs::lgetxattr(path, MARK, &mut value[..]).is_ok_and(|n| value[..n] == *MARK_VALUE)
}

/// The part of a staging name after `.<name>.staging-` when it is exactly
/// what this tool makes: `<pid>-<6 letters or digits>` (tempfile's random
/// part), or that with `.old` (the fallback swap's name of the old tree).
fn staging_owner(rest: &str) -> Option<&str> {
    let rest = rest.strip_suffix(".old").unwrap_or(rest);
    let (pid, random) = rest.split_once('-')?;
    let own = !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && random.len() == 6
        && random.bytes().all(|b| b.is_ascii_alphanumeric());
    own.then_some(pid)
}

/// Removes what killed runs left beside `name` in `parent`: staging trees
/// and temporary files named exactly `.<name>.staging-<pid>-<random>`,
/// marked as this tool's, that no live run holds. A live run holds a
/// `flock(2)` on each, so a run whose PID was reused since still counts as
/// gone. A temporary file is created an instant before it is locked, and
/// not always under the directory's lock: it also needs its owner's PID
/// gone, or no change for a minute.
fn remove_abandoned(parent: &Path, name: &str) {
    let prefix = format!(".{name}{STAGING_SUFFIX}");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(staging_owner)
        else {
            continue;
        };
        let path = entry.path();
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        // Unmarked, only when empty: a run killed an instant after it
        // created the file or directory, before it marked it. Removing an
        // empty one loses nothing.
        let ours = marked(&path);
        let empty_file = metadata.is_file() && metadata.len() == 0;
        if !(ours || empty_file || metadata.is_dir()) {
            continue;
        }
        let held = held_by_another(&path);
        if metadata.is_dir() {
            if held != Some(true) && (held.is_some() || owner_gone(pid)) {
                let _ = if ours {
                    remove_tree(&path)
                } else {
                    fs::remove_dir(&path)
                };
            }
        } else if metadata.is_file() {
            let idle = metadata
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(60));
            if held == Some(false) && (owner_gone(pid) || idle) {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Whether a live process holds the `flock(2)` of `path`; `None` where it
/// cannot be told.
fn held_by_another(path: &Path) -> Option<bool> {
    match try_lock(path) {
        Ok(_) => Some(false),
        Err(Some(Errno::WOULDBLOCK)) => Some(true),
        Err(_) => None,
    }
}

/// Whether the run of PID `pid` that named a staging entry is gone: no
/// such process, or this one (which has not made its own yet).
fn owner_gone(pid: &str) -> bool {
    let Some(pid) = pid
        .parse::<i32>()
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    pid == rustix::process::getpid() || rustix::process::test_kill_process(pid) == Err(Errno::SRCH)
}

/// Runs that write the same directory take turns: each holds an exclusive
/// `flock(2)` on `.<name>.lock` beside it (beside, as the directory itself
/// is swapped away) while it writes. The file is removed when the lock is
/// released; one a killed run left is taken over.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    /// `None` where this run may not create files beside the directory:
    /// it cannot write the directory either, so it has nothing to guard
    /// (and an unchanged tree is still found up to date).
    file: Option<fs::File>,
    /// The directory locked.
    target: PathBuf,
    /// The topmost parent of `target` that this run created: removed
    /// (with those below it, when empty) if the run installed no tree.
    created: Option<PathBuf>,
}

/// Removes `dir` and its parents up to `top`, each only when empty.
fn remove_empty_parents(dir: &Path, top: &Path) {
    for dir in dir.ancestors() {
        if fs::remove_dir(dir).is_err() || dir == top {
            break;
        }
    }
}

impl Lock {
    /// Takes the lock of the directory `target`, waiting for the run that
    /// holds it (`waiting` is called once then, with the lock's path), and
    /// removes what killed runs left beside `target`.
    ///
    /// # Errors
    /// When `stop` is set before the lock is had, or the lock file cannot
    /// be created or is not a regular file.
    pub fn acquire(
        target: &Path,
        stop: &AtomicBool,
        waiting: &dyn Fn(&Path),
    ) -> Result<Self, Error> {
        let (parent, name) = split(target);
        // The parents this run creates go with it when it installs nothing.
        let created = parent
            .ancestors()
            .take_while(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err())
            .last()
            .map(Path::to_path_buf);
        fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
        let path = parent.join(format!(".{name}.lock"));
        let mut lock = Self::take(target, &parent, &name, path, stop, waiting);
        if let Ok(lock) = &mut lock {
            lock.created = created;
        } else if let Some(top) = &created {
            remove_empty_parents(&parent, top);
        }
        lock
    }

    fn take(
        target: &Path,
        parent: &Path,
        name: &str,
        path: PathBuf,
        stop: &AtomicBool,
        waiting: &dyn Fn(&Path),
    ) -> Result<Self, Error> {
        let mut told = false;
        let mut empty_since = None;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Err(Error::Interrupted);
            }
            let file = match open_lock(&path) {
                Ok(file) => file,
                Err(Error::Io { .. })
                    if rustix::fs::access(parent, rustix::fs::Access::WRITE_OK).is_err() =>
                {
                    return Ok(Self {
                        path,
                        file: None,
                        target: target.to_path_buf(),
                        created: None,
                    });
                }
                Err(e) => return Err(e),
            };
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                // The run before may have removed the file after it was
                // opened here: then this lock guards nothing, take the new one.
                Ok(()) if same_file(&file, &path) => match lock_text(&file) {
                    Some(text) if text.starts_with(LOCK_TEXT) => {
                        remove_abandoned(parent, name);
                        return Ok(Self {
                            path,
                            file: Some(file),
                            target: target.to_path_buf(),
                            created: None,
                        });
                    }
                    // Its run created it an instant ago and writes it next.
                    Some(text)
                        if text.is_empty()
                            && empty_since
                                .get_or_insert_with(std::time::Instant::now)
                                .elapsed()
                                < Duration::from_secs(2) =>
                    {
                        drop(file);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => return Err(Error::ForeignLock { path }),
                },
                Ok(()) | Err(Errno::INTR) => {}
                Err(Errno::WOULDBLOCK) => {
                    if !told {
                        waiting(&path);
                        told = true;
                    }
                    // Polled rather than blocked on, so that a signal stops the wait.
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(io_error("lock", &path)(e.into())),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held: a run that opened it meanwhile finds it
        // gone once it has the lock, and takes a new one.
        if let Some(file) = &self.file
            && same_file(file, &self.path)
        {
            let _ = fs::remove_file(&self.path);
        }
        if let Some(top) = &self.created
            && fs::symlink_metadata(&self.target).is_err()
            && let Some(parent) = self.path.parent()
        {
            remove_empty_parents(parent, top);
        }
    }
}

/// What every lock file this tool creates holds: a file of that name that
/// does not is a user's, never taken nor removed.
const LOCK_TEXT: &[u8] = b"bentoml-docker: the lock of the output directory beside it\n";

/// The start of the lock file's contents; `None` when it cannot be read.
fn lock_text(file: &fs::File) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut text = vec![0; LOCK_TEXT.len()];
    let mut read = 0;
    while read < text.len() {
        match file.read_at(&mut text[read..], read as u64).ok()? {
            0 => break,
            n => read += n,
        }
    }
    text.truncate(read);
    Some(text)
}

/// Opens the lock file, creating it (exclusively, with [`LOCK_TEXT`]) when
/// there is none; it must be a regular file: never through a symbolic
/// link, and never opening a device or a fifo.
fn open_lock(path: &Path) -> Result<fs::File, Error> {
    use rustix::fs::{Mode, OFlags};
    let wrong = |found: &str| Error::WrongKind {
        path: path.to_path_buf(),
        found: found.to_string(),
        expected: "a regular file (the lock of the output directory)",
    };
    if let Ok(metadata) = fs::symlink_metadata(path)
        && !metadata.is_file()
    {
        return Err(wrong(crate::diagnostic::file_kind(metadata.file_type())));
    }
    let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let mode = Mode::from_bits_truncate(0o644);
    let create = flags | OFlags::CREATE | OFlags::EXCL | OFlags::RDWR;
    let opened = match rustix::fs::open(path, create, mode) {
        Ok(fd) => {
            let mut file = fs::File::from(fd);
            file.write_all(LOCK_TEXT)
                .map_err(io_error("write the lock", path))?;
            Ok(file)
        }
        Err(Errno::EXIST) => {
            rustix::fs::open(path, flags | OFlags::RDONLY, mode).map(fs::File::from)
        }
        Err(e) => Err(e),
    };
    let file = match opened {
        Ok(file) => file,
        Err(Errno::LOOP) => return Err(wrong("a symbolic link")),
        Err(e) => return Err(io_error("open the lock", path)(e.into())),
    };
    match file.metadata() {
        Ok(metadata) if metadata.is_file() => Ok(file),
        Ok(metadata) => Err(wrong(crate::diagnostic::file_kind(metadata.file_type()))),
        Err(e) => Err(io_error("open the lock", path)(e)),
    }
}

/// Whether `path` (not followed) is the file open as `file`.
fn same_file(file: &fs::File, path: &Path) -> bool {
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Where the directory `path` really is: `path` itself when it is a
/// directory or does not exist yet (then the first of its parents that
/// exists must be a directory), or where the symbolic link `path` points
/// (the tree is replaced there and the link kept). Nothing is touched.
///
/// Trailing slashes are dropped (`out/` is `out`, a link followed as
/// such); a path that ends in `.` or `..` names no directory of its own to
/// replace and is refused.
///
/// # Errors
/// When `path` ends in `.` or `..`, or it (or that parent) exists and is
/// not a directory, or is a link that leads nowhere.
pub fn resolve_directory(path: &Path) -> Result<PathBuf, Error> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let end = bytes.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    let trimmed = &bytes[..end];
    let last = trimmed.rsplit(|&b| b == b'/').next().unwrap_or_default();
    if trimmed.is_empty() || last == b"." || last == b".." {
        return Err(Error::WouldReplaceRepo {
            path: path.to_path_buf(),
            reason: "it names a directory by `.` or `..` (or the root), not a directory of its own"
                .into(),
        });
    }
    let path = Path::new(std::ffi::OsStr::from_bytes(trimmed));
    resolve(path, "a directory", fs::Metadata::is_dir)
}

/// Where the file `path` really is, as [`resolve_directory`] for a
/// directory: it must be a regular file (or a link to one) when it exists.
///
/// # Errors
/// When `path` exists and is not a regular file, its first existing parent
/// is not a directory, or it is a link that leads nowhere.
pub fn resolve_file(path: &Path) -> Result<PathBuf, Error> {
    resolve(path, "a regular file", fs::Metadata::is_file)
}

fn resolve(
    path: &Path,
    expected: &'static str,
    fits: fn(&fs::Metadata) -> bool,
) -> Result<PathBuf, Error> {
    let wrong = |path: &Path, found: String, expected| Error::WrongKind {
        path: path.to_path_buf(),
        found,
        expected,
    };
    match fs::symlink_metadata(path) {
        Ok(metadata) if fits(&metadata) => Ok(path.to_path_buf()),
        Ok(metadata) if metadata.is_symlink() => {
            let to = fs::read_link(path).map_err(io_error("read the link", path))?;
            let broken = |why| Error::BrokenLink {
                path: path.to_path_buf(),
                to: to.clone(),
                why,
            };
            match fs::metadata(path) {
                Ok(metadata) if fits(&metadata) => {
                    fs::canonicalize(path).map_err(io_error("resolve", path))
                }
                Ok(metadata) => Err(wrong(
                    path,
                    format!(
                        "a symbolic link to {}",
                        crate::diagnostic::file_kind(metadata.file_type())
                    ),
                    expected,
                )),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(broken("does not exist")),
                Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
                    Err(broken("leads back to itself"))
                }
                Err(e) => Err(io_error("read", path)(e)),
            }
        }
        Ok(metadata) => Err(wrong(
            path,
            crate::diagnostic::file_kind(metadata.file_type()).into(),
            expected,
        )),
        Err(e) if missing(&e) => {
            // Created later: the closest parent that exists must be a
            // directory, and no parent a link that leads nowhere.
            for parent in path.ancestors().skip(1) {
                let shown = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                match fs::metadata(shown) {
                    Ok(metadata) if metadata.is_dir() => return Ok(path.to_path_buf()),
                    Ok(metadata) => {
                        return Err(wrong(
                            shown,
                            crate::diagnostic::file_kind(metadata.file_type()).into(),
                            "a directory",
                        ));
                    }
                    Err(e) if missing(&e) => {
                        if fs::symlink_metadata(shown).is_ok_and(|m| m.is_symlink()) {
                            return Err(Error::BrokenLink {
                                path: shown.to_path_buf(),
                                to: fs::read_link(shown).unwrap_or_default(),
                                why: if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) {
                                    "leads back to itself"
                                } else {
                                    "does not exist"
                                },
                            });
                        }
                    }
                    Err(e) => return Err(io_error("read", shown)(e)),
                }
            }
            Ok(path.to_path_buf())
        }
        Err(e) => Err(io_error("read", path)(e)),
    }
}

/// Whether `e` says that a path is not there yet: missing, under a file,
/// or under a link that loops (told apart by the caller).
fn missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) || e.raw_os_error() == Some(Errno::LOOP.raw_os_error())
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
    /// Starts writing `path` (where it points, when it is a symbolic link),
    /// through `.<name>.staging-<pid>-…` beside it; removes those that killed
    /// runs left.
    ///
    /// # Errors
    /// When `path` exists and is not a regular file, or the temporary file
    /// cannot be created.
    pub fn new(path: &Path) -> Result<Self, Error> {
        Self::at(resolve_file(path)?)
    }

    /// [`AtomicFile::new`] for a path [`resolve_file`] already resolved.
    ///
    /// # Errors
    /// When the temporary file cannot be created.
    pub fn at(path: PathBuf) -> Result<Self, Error> {
        let (parent, name) = split(&path);
        fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
        remove_abandoned(&parent, &name);
        let file = tempfile::Builder::new()
            .prefix(&staging_prefix(&name))
            .tempfile_in(&parent)
            .map_err(io_error("create a file in", &parent))?;
        // Held until the file is closed: it is live for `remove_abandoned`.
        let _ = rustix::fs::flock(file.as_file(), FlockOperation::NonBlockingLockExclusive);
        mark(file.path());
        Ok(Self {
            path,
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
    fn what_goes_with_the_tree_is_put_in_place_before_the_old_tree_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let manifest = tmp.path().join("manifest.yml");
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile"]).unwrap();
        tree.write(Path::new("a/Dockerfile"), b"old".to_vec())
            .unwrap();
        tree.commit().unwrap();
        let mut tree = Tree::new(&target, &manifest, &[], &["Dockerfile"]).unwrap();
        tree.write(Path::new("a/Dockerfile"), b"new".to_vec())
            .unwrap();
        let mut calls = 0;
        let outcome = tree
            .commit_with(&mut || {
                calls += 1;
                assert_eq!(
                    fs::read_to_string(target.join("a/Dockerfile")).unwrap(),
                    "new"
                );
                // The old tree is still there, beside the new one.
                assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 2);
                Ok(())
            })
            .unwrap();
        assert_eq!((outcome, calls), (Outcome::Replaced, 1));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
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

    #[test]
    fn the_lock_admits_one_run_at_a_time_and_goes_with_the_last() {
        use std::sync::atomic::AtomicUsize;
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let never = AtomicBool::new(false);
        let inside = AtomicUsize::new(0);
        let waited = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        let _lock = Lock::acquire(&target, &never, &|_| {
                            waited.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        std::thread::sleep(Duration::from_millis(1));
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(waited.load(Ordering::SeqCst) > 0);
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "the lock file is left"
        );
    }

    #[test]
    fn waiting_for_the_lock_stops_when_told() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let never = AtomicBool::new(false);
        let _held = Lock::acquire(&target, &never, &|_| panic!("not held yet")).unwrap();
        let stop = AtomicBool::new(false);
        let error = Lock::acquire(&target, &stop, &|lock| {
            assert_eq!(lock, tmp.path().join(".generated.lock"));
            stop.store(true, Ordering::SeqCst);
        })
        .unwrap_err();
        assert!(matches!(error, Error::Interrupted), "{error}");
    }

    #[test]
    fn a_later_run_removes_abandoned_staging_and_never_a_live_one() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        fs::create_dir_all(&target).unwrap();
        let live = Staging::new(&target).unwrap();
        live.write(Path::new("a/Dockerfile"), b"live").unwrap();
        let live_file = AtomicFile::new(&tmp.path().join("metadata.json")).unwrap();
        // What killed runs left: their PIDs are gone (or reused), their locks released.
        for name in [
            ".generated.staging-2147483646-AbC123",
            ".generated.staging-1-AbC123",
            ".generated.staging-2147483646-AbC123.old",
        ] {
            fs::create_dir_all(tmp.path().join(name).join("a")).unwrap();
            fs::write(tmp.path().join(name).join("a/Dockerfile"), "left").unwrap();
            mark(&tmp.path().join(name));
        }
        let left_file = tmp.path().join(".metadata.json.staging-2147483646-AbC123");
        fs::write(&left_file, "{}").unwrap();
        mark(&left_file);
        // Not ours: names that only look alike, and one of our names
        // without the mark only this tool sets.
        let mine = [
            ".generated.staging",
            ".generated.staging-XyZ789",
            ".generated.staging-backup",
            ".generated.staging-1-mine",
            ".generated.staging-old.txt",
            ".generated.staging-2147483646-NoMark",
        ];
        for name in mine {
            if name.ends_with(".txt") || name == ".generated.staging" {
                fs::write(tmp.path().join(name), "mine").unwrap();
            } else {
                fs::create_dir_all(tmp.path().join(name)).unwrap();
                fs::write(tmp.path().join(name).join("notes"), "mine").unwrap();
            }
        }
        let never = AtomicBool::new(false);
        let _lock = Lock::acquire(&target, &never, &|_| {}).unwrap();
        let _other = AtomicFile::new(&tmp.path().join("metadata.json")).unwrap();
        let mut left: Vec<String> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with(".metadata.json.staging-"))
            .collect();
        left.sort();
        let live_name = live.dir.path().file_name().unwrap().to_str().unwrap();
        let mut expected: Vec<String> = mine.iter().map(ToString::to_string).collect();
        expected.extend([
            ".generated.lock".to_string(),
            live_name.to_string(),
            "generated".to_string(),
        ]);
        expected.sort();
        assert_eq!(left, expected);
        assert!(live_name.starts_with(&format!(".generated.staging-{}-", std::process::id())));
        // The two live temporary files of metadata.json are kept, the abandoned one not.
        let temporaries = fs::read_dir(tmp.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".metadata.json.staging-")
            })
            .count();
        assert_eq!(temporaries, 2);
        assert!(!left_file.exists());
        drop(live_file);
        live.commit().unwrap();
        assert_eq!(
            fs::read_to_string(target.join("a/Dockerfile")).unwrap(),
            "live"
        );
    }

    #[test]
    fn a_lock_file_the_tool_did_not_create_is_refused_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("generated");
        let lock = tmp.path().join(".generated.lock");
        let never = AtomicBool::new(false);
        for text in ["my notes", ""] {
            fs::write(&lock, text).unwrap();
            let error = Lock::acquire(&target, &never, &|_| {}).unwrap_err();
            assert!(matches!(error, Error::ForeignLock { .. }), "{error}");
            assert_eq!(fs::read_to_string(&lock).unwrap(), text);
        }
        // One a killed run left is taken over, and goes with this run.
        fs::write(&lock, LOCK_TEXT).unwrap();
        drop(Lock::acquire(&target, &never, &|_| {}).unwrap());
        assert!(!lock.exists());
    }

    #[test]
    fn paths_that_are_not_directories_are_named_and_links_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        let error = resolve_directory(&file).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("`{}` is a regular file, not a directory", file.display())
        );
        let error = resolve_directory(&file.join("generated")).unwrap_err();
        assert!(matches!(error, Error::WrongKind { ref path, .. } if *path == file));
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            resolve_directory(&link).unwrap(),
            fs::canonicalize(&real).unwrap()
        );
        assert_eq!(resolve_directory(&real).unwrap(), real);
        assert_eq!(
            resolve_directory(&link.join("new")).unwrap(),
            link.join("new")
        );
        let error = resolve_file(&link).unwrap_err();
        assert!(
            error.to_string().contains("a symbolic link to a directory"),
            "{error}"
        );
        let looping = tmp.path().join("loop");
        std::os::unix::fs::symlink(&looping, &looping).unwrap();
        let error = resolve_directory(&looping).unwrap_err();
        assert!(
            error.to_string().contains("leads back to itself"),
            "{error}"
        );
    }

    #[test]
    fn an_output_ending_in_a_dot_is_refused_and_trailing_slashes_dropped() {
        for path in [".", "..", "out/.", "out/..", "./", "/", "out/./"] {
            let error = resolve_directory(Path::new(path)).unwrap_err();
            assert!(
                matches!(error, Error::WouldReplaceRepo { .. }),
                "{path}: {error}"
            );
        }
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = tmp.path().join("out");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let given = PathBuf::from(format!("{}//", link.display()));
        assert_eq!(
            resolve_directory(&given).unwrap(),
            fs::canonicalize(&real).unwrap()
        );
        let new = PathBuf::from(format!("{}/new/", tmp.path().display()));
        assert_eq!(resolve_directory(&new).unwrap(), tmp.path().join("new"));
    }

    #[test]
    fn a_dangling_or_looping_link_among_the_parents_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let looping = tmp.path().join("lp");
        std::os::unix::fs::symlink(&looping, &looping).unwrap();
        let broken = tmp.path().join("broken");
        std::os::unix::fs::symlink(tmp.path().join("nowhere"), &broken).unwrap();
        for (parent, why) in [
            (&looping, "leads back to itself"),
            (&broken, "does not exist"),
        ] {
            for path in [parent.join("generated"), parent.join("deep/generated")] {
                let error = resolve_directory(&path).unwrap_err();
                assert!(
                    matches!(error, Error::BrokenLink { path: ref p, .. } if p == parent),
                    "{error}"
                );
                assert!(error.to_string().contains(why), "{error}");
            }
        }
    }
}
