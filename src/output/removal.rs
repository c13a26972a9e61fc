//! Removing a previous tree without crossing into a file system mounted
//! inside it, and telling beforehand what could not be removed.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

/// The first entry of the tree at `dir` that could not be removed: a
/// directory this process may not empty, an immutable or append-only file
/// or directory (not even root may unlink those), or another file system
/// mounted inside. Checked before a tree is swapped in, so that the
/// previous one is never left beside it, half removed.
pub(super) fn unremovable(dir: &Path) -> Option<(PathBuf, io::Error)> {
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
pub(super) fn remove_tree(dir: &Path) -> io::Result<()> {
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
