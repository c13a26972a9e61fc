//! Single files (`metadata.json`, reports) written through a temporary
//! file beside them and renamed into place.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use super::resolve::{resolve_file, split};
use super::sweep::{mark, remove_abandoned, staging_prefix};
use super::{Error, io_error};

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

/// Writes `contents` to `path` atomically: readers see the old file or
/// the whole new one, never a part.
///
/// # Errors
/// When it cannot be written or put in place.
pub fn write_whole(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let mut file = AtomicFile::new(path)?;
    file.write_all(contents).map_err(io_error("write", path))?;
    file.commit()?;
    Ok(())
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
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
