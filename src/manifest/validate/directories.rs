//! Names that become directories under `generated/` (packages, distros,
//! releases): safe in a path, short enough for a file name, and distinct
//! on a case-insensitive file system.

use super::{Checker, Key, Node};

/// The longest file name most file systems hold, in bytes.
pub(super) const MAX_FILE_NAME: usize = 255;

impl Checker {
    /// Keys that name directories must differ in more than case: on a
    /// case-insensitive file system (macOS, Windows) they would be one.
    pub(super) fn check_case_collisions(&mut self, entries: &[(Key, Node)], what: &str) {
        for (i, (key, _)) in entries.iter().enumerate() {
            if let Some((first, _)) = entries[..i]
                .iter()
                .find(|(k, _)| k.name != key.name && k.name.eq_ignore_ascii_case(&key.name))
            {
                let problem = self
                    .problem(
                        key.at,
                        format!(
                            "{what} `{}` and `{}` differ only in case",
                            key.name, first.name
                        ),
                        "same name but for case",
                    )
                    .help("they would share a directory on a case-insensitive file system (macOS, Windows); rename one");
                self.problems.push(problem);
            }
        }
    }

    pub(super) fn check_path_name(&mut self, key: &Key, what: &str) {
        let name: &str = &key.name;
        let safe = !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if safe && name.len() > MAX_FILE_NAME {
            let problem = self
                .problem(
                    key.at,
                    format!("{what} name is {}", too_long_for_a_file_name(name.len())),
                    "too long",
                )
                .help(format!(
                    "shorten the {what} name: it names a directory under `generated/`"
                ));
            self.problems.push(problem);
        }
        if !safe {
            let problem = self
                .problem(
                    key.at,
                    format!("{what} name `{name}` cannot be used in a path under `generated/`"),
                    "unsafe name",
                )
                .help(format!(
                    "{what} names use letters, digits, `.`, `_` and `-`"
                ));
            self.problems.push(problem);
        }
    }
}

/// How a name that becomes a directory is too long.
pub(super) fn too_long_for_a_file_name(len: usize) -> String {
    format!("{len} bytes long, more than a file name can hold ({MAX_FILE_NAME})")
}
