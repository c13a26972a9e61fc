//! What killed runs left beside an output: staging trees and temporary
//! files are marked as this tool's and locked by their live run, so the
//! next run removes what is abandoned and never what is live.

use std::fs;
use std::path::Path;
use std::time::Duration;

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use super::removal::remove_tree;

/// What follows the output's name in the name of a staging tree or a
/// temporary file: `.NAME.staging-PID-RANDOM`.
pub(super) const STAGING_SUFFIX: &str = ".staging-";

/// The start of the name of every staging tree or temporary file of `name`,
/// before the owner's PID.
pub(super) fn staging_prefix(name: &str) -> String {
    format!(".{name}{STAGING_SUFFIX}{}-", std::process::id())
}

/// Opens `path` and takes an exclusive `flock(2)` on it, held as long as
/// the file is open; `None` where the file system cannot lock.
pub(super) fn hold(path: &Path) -> Option<fs::File> {
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
pub(super) fn mark(path: &Path) {
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
pub(super) fn remove_abandoned(parent: &Path, name: &str) {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::output::{AtomicFile, Lock, Staging};

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
}
