//! Where an output path really is, and what it must be: a directory (or a
//! link to one) for the generated tree, a regular file for `metadata.json`;
//! a path that would replace the images repo is refused before anything is
//! written.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use super::{Error, io_error};

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

pub(super) fn absolute(path: &Path) -> io::Result<PathBuf> {
    if let Ok(p) = fs::canonicalize(path) {
        Ok(p)
    } else {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Ok(fs::canonicalize(parent)?.join(path.file_name().unwrap_or_default()))
    }
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

/// The directory holding `target`, and `target`'s name.
pub(super) fn split(target: &Path) -> (PathBuf, String) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
