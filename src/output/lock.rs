//! The lock beside an output directory, under which runs that write it take
//! turns.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use super::resolve::split;
use super::sweep::remove_abandoned;
use super::{Error, io_error};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
