//! Writes results so that a reader never sees half of them: `generated/` is
//! built in a fresh directory beside it and swapped in with one atomic
//! `rename(2)` exchange; single files go through a temporary file and a
//! rename. A failure or a kill at any moment leaves the previous tree as it was.
//!
//! Runs that write the same directory take turns under a lock beside it, and
//! each staging tree or temporary file is named after its run's PID and
//! locked by it while it lives: what a killed run left is recognised, and
//! removed by the next run, and a live run's is never touched.
//!
//! The parts, in the order a run meets them: `resolve` finds where the
//! output really is, `lock` makes runs take turns, `sweep` removes what
//! killed runs left, `tree` (with its `writers`) fills a `staging`
//! tree that replaces the old one, whose removal (`removal`) never
//! crosses a mount; `atomic` does the same for single files.

use std::io;
use std::path::{Path, PathBuf};

mod atomic;
mod lock;
mod removal;
mod resolve;
mod staging;
mod sweep;
mod tree;
mod writers;

pub use atomic::{AtomicFile, write_whole};
pub use lock::Lock;
pub use resolve::{parent_of, refuse_repo_or_parent, resolve_directory, resolve_file};
pub use staging::Staging;
pub use tree::{Outcome, Tree};

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
