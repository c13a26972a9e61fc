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
    /// The output directory would replace the images repo itself.
    #[error("refusing to replace `{path}`: it holds the manifest")]
    #[diagnostic(help("generate into a directory of its own, e.g. `-dd generated`"))]
    WouldReplaceRepo {
        /// The output directory.
        path: PathBuf,
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
    pub fn new(target: &Path, manifest: &Path) -> Result<Self, Error> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
        if let (Ok(target), Ok(manifest)) = (absolute(target), absolute(manifest))
            && manifest.starts_with(&target)
        {
            return Err(Error::WouldReplaceRepo { path: target });
        }
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
            let old = staging.with_extension("old");
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
        let file = tempfile::NamedTempFile::new_in(parent)
            .map_err(io_error("create a file in", parent))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: io::BufWriter::new(file),
        })
    }

    /// Puts the file in place.
    ///
    /// # Errors
    /// When it cannot be written or renamed.
    pub fn commit(self) -> Result<(), Error> {
        let path = self.path;
        let file = self
            .file
            .into_inner()
            .map_err(|e| io_error("write", &path)(e.into_error()))?;
        fs::set_permissions(file.path(), fs::Permissions::from_mode(0o644))
            .map_err(io_error("set permissions of", &path))?;
        file.persist(&path)
            .map_err(|e| io_error("write", &path)(e.error))?;
        Ok(())
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
        let manifest = tmp.path().join("manifest.yml");
        let staging = Staging::new(&target, &manifest).unwrap();
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
        let staging = Staging::new(&target, &tmp.path().join("manifest.yml")).unwrap();
        staging.write(Path::new("x"), b"x").unwrap();
        drop(staging);
        assert_eq!(fs::read_to_string(target.join("keep")).unwrap(), "kept");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_images_repo_itself_is_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = tmp.path().join("manifest.yml");
        fs::write(&manifest, "").unwrap();
        let error = Staging::new(tmp.path(), &manifest).unwrap_err();
        assert!(matches!(error, Error::WouldReplaceRepo { .. }));
    }
}
