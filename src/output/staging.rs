//! A staging tree beside the output directory, named after its run and
//! swapped in with one `rename(2)` exchange.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use super::removal::{remove_tree, unremovable};
use super::resolve::split;
use super::sweep::{hold, mark, staging_prefix};
use super::{Error, io_error};

/// A directory being filled, that replaces `target` as a whole on commit.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    pub(super) dir: tempfile::TempDir,
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
    /// removal of the old tree (see [`super::Tree::commit_with`]).
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
}
