//! What images are labelled with from the images repo's Git checkout: the
//! commit checked out and the `origin` remote. Read from `.git` itself, so
//! no `git` program is needed (the tool's image does without one).
//!
//! Covers what checkouts look like in practice: a `.git` directory in the
//! images repo or a directory above it, a `.git` file pointing elsewhere
//! (worktrees, submodules), branches as loose or packed refs, a detached
//! HEAD. Anything else gives no label rather than a wrong one.

use std::fs;
use std::path::{Path, PathBuf};

/// The Git directories of a checkout.
#[derive(Debug)]
struct Repository {
    /// Holds `HEAD` (per worktree).
    git_dir: PathBuf,
    /// Holds refs, `packed-refs` and `config` (shared by worktrees).
    common_dir: PathBuf,
}

impl Repository {
    /// The checkout holding `path`, looking upwards.
    fn discover(path: &Path) -> Option<Self> {
        let start = fs::canonicalize(path).ok()?;
        for dir in start.ancestors() {
            let dot_git = dir.join(".git");
            let git_dir = if dot_git.is_dir() {
                dot_git
            } else if dot_git.is_file() {
                let text = fs::read_to_string(&dot_git).ok()?;
                dir.join(text.strip_prefix("gitdir:")?.trim())
            } else {
                continue;
            };
            let common_dir = match fs::read_to_string(git_dir.join("commondir")) {
                Ok(relative) => git_dir.join(relative.trim()),
                Err(_) => git_dir.clone(),
            };
            return Some(Self {
                git_dir,
                common_dir,
            });
        }
        None
    }

    /// The commit `HEAD` names.
    fn head(&self) -> Option<String> {
        let head = fs::read_to_string(self.git_dir.join("HEAD")).ok()?;
        match head.trim().strip_prefix("ref:") {
            Some(name) => self.resolve(name.trim()),
            None => object_id(head.trim()),
        }
    }

    /// The commit a ref (`refs/heads/main`) points to: a loose ref, or a
    /// line of `packed-refs`.
    fn resolve(&self, name: &str) -> Option<String> {
        for dir in [&self.git_dir, &self.common_dir] {
            if let Ok(text) = fs::read_to_string(dir.join(name)) {
                return object_id(text.trim());
            }
        }
        let packed = fs::read_to_string(self.common_dir.join("packed-refs")).ok()?;
        packed
            .lines()
            .filter(|line| !line.starts_with('#') && !line.starts_with('^'))
            .find_map(|line| {
                let (id, reference) = line.split_once(' ')?;
                (reference.trim() == name).then(|| object_id(id)).flatten()
            })
    }

    /// The `url` of `[remote "origin"]` in the repository's config.
    fn origin(&self) -> Option<String> {
        let config = fs::read_to_string(self.common_dir.join("config")).ok()?;
        let mut in_origin = false;
        // As `git config --get`: the last one set wins.
        let mut url = None;
        for line in config.lines() {
            let mut line = line.trim();
            if let Some(header) = line.strip_prefix('[') {
                // `[remote "origin"]`: the section name is case-insensitive,
                // the subsection not; in the old spelling `[remote.origin]`
                // both are. A key may follow on the same line.
                let (header, rest) = header.split_once(']').unwrap_or((header, ""));
                in_origin = match header.split_once('"') {
                    Some((section, subsection)) => {
                        section.trim().eq_ignore_ascii_case("remote")
                            && subsection.trim_end_matches('"') == "origin"
                    }
                    None => header.eq_ignore_ascii_case("remote.origin"),
                };
                line = rest.trim();
            }
            if !in_origin {
                continue;
            }
            if let Some((key, value)) = line.split_once('=')
                && key.trim().eq_ignore_ascii_case("url")
            {
                url = Some(config_value(value)).filter(|v| !v.is_empty());
            }
        }
        url
    }
}

/// A config value as git reads it: quotes removed, escapes applied, and a
/// `#` or `;` outside quotes starting a comment.
fn config_value(raw: &str) -> String {
    let mut value = String::new();
    // Trailing whitespace outside quotes is dropped, inside kept.
    let mut kept = 0;
    let mut quoted = false;
    let mut chars = raw.trim_start().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '#' | ';' if !quoted => break,
            '\\' => {
                value.push(match chars.next() {
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('b') => '\u{8}',
                    Some(other) => other,
                    None => break,
                });
            }
            c => value.push(c),
        }
        // An escaped character (`\t`) is kept even at the end.
        if quoted || c == '\\' || !value.ends_with(char::is_whitespace) {
            kept = value.len();
        }
    }
    value.truncate(kept);
    value
}

/// A full object name (SHA-1 or SHA-256, in hex).
fn object_id(text: &str) -> Option<String> {
    let valid = matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| text.to_ascii_lowercase())
}

/// The commit checked out where `path` is, when it is in a Git checkout.
#[must_use]
pub fn revision(path: &Path) -> Option<String> {
    Repository::discover(path)?.head()
}

/// The URL of the `origin` remote of the checkout holding `path`.
#[must_use]
pub fn origin(path: &Path) -> Option<String> {
    Repository::discover(path)?.origin()
}

/// The OCI labels the checkout holding `path` gives every image: its
/// revision and its `origin` (without credentials), those it has.
#[must_use]
pub fn labels(path: &Path) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    if let Some(revision) = revision(path) {
        labels.push(("org.opencontainers.image.revision".to_string(), revision));
    }
    if let Some(source) = origin(path) {
        labels.push((
            "org.opencontainers.image.source".to_string(),
            without_credentials(&source),
        ));
    }
    labels
}

/// `url` without any user name or password in it: a clone URL may carry a
/// token (`https://ci-token:SECRET@host/...`), which must not end up in a
/// label of every image.
#[must_use]
pub fn without_credentials(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        return if path.is_empty() {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}/{path}")
        };
    }
    // scp-like `user@host:path`
    match url.split_once('@') {
        Some((_, rest)) if !rest.contains('@') => rest.to_string(),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
    const OTHER: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A checkout with the images repo in `images/`.
    fn checkout() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("images")).unwrap();
        write(&dir.path().join(".git/HEAD"), "ref: refs/heads/main\n");
        write(
            &dir.path().join(".git/config"),
            "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://example.com/up.git\n\
             [remote \"origin\"]\n\turl = https://github.com/org/images.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
        );
        dir
    }

    #[test]
    fn a_loose_branch_and_the_origin_remote() {
        let dir = checkout();
        write(
            &dir.path().join(".git/refs/heads/main"),
            &format!("{COMMIT}\n"),
        );
        let images = dir.path().join("images");
        assert_eq!(revision(&images).as_deref(), Some(COMMIT));
        assert_eq!(
            origin(&images).as_deref(),
            Some("https://github.com/org/images.git")
        );
    }

    #[test]
    fn a_packed_branch_and_a_detached_head() {
        let dir = checkout();
        write(
            &dir.path().join(".git/packed-refs"),
            &format!(
                "# pack-refs with: peeled fully-peeled sorted\n{OTHER} refs/heads/dev\n{COMMIT} refs/heads/main\n^{OTHER}\n"
            ),
        );
        assert_eq!(revision(dir.path()).as_deref(), Some(COMMIT));
        write(&dir.path().join(".git/HEAD"), &format!("{OTHER}\n"));
        assert_eq!(revision(dir.path()).as_deref(), Some(OTHER));
    }

    #[test]
    fn a_worktree_reads_its_head_and_the_shared_refs() {
        let dir = checkout();
        write(
            &dir.path().join(".git/refs/heads/feature"),
            &format!("{OTHER}\n"),
        );
        let worktree = dir.path().join("wt");
        let git_dir = dir.path().join(".git/worktrees/wt");
        write(&git_dir.join("HEAD"), "ref: refs/heads/feature\n");
        write(&git_dir.join("commondir"), "../..\n");
        write(
            &worktree.join(".git"),
            &format!("gitdir: {}\n", git_dir.display()),
        );
        assert_eq!(revision(&worktree).as_deref(), Some(OTHER));
        assert_eq!(
            origin(&worktree).as_deref(),
            Some("https://github.com/org/images.git")
        );
    }

    /// On the checkout this crate is built from (CI clones it: refs are
    /// packed there), the answers are git's own.
    #[test]
    fn agrees_with_git_on_this_checkout() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        if !root.join(".git").exists() {
            return; // not built from a checkout
        }
        let git = |args: &[&str]| {
            let output = std::process::Command::new("git")
                // A checkout owned by someone else is still read.
                .args(["-c", "safe.directory=*", "-C"])
                .arg(root)
                .args(args)
                .output()
                .ok()?;
            Some((
                output.status.success(),
                String::from_utf8(output.stdout).unwrap().trim().to_string(),
            ))
        };
        let Some((true, expected)) = git(&["rev-parse", "HEAD"]) else {
            // No git to compare with, or an unborn branch: not this checkout.
            assert!(
                git(&["--version"]).is_none() || revision(root).is_none(),
                "git cannot read HEAD, but we did"
            );
            return;
        };
        assert_eq!(revision(&root.join("images")), Some(expected));
        let url = git(&["config", "--get", "remote.origin.url"])
            .filter(|(ok, _)| *ok)
            .map(|(_, url)| url);
        assert_eq!(origin(root), url);
    }

    #[test]
    fn config_values_are_read_as_git_reads_them() {
        assert_eq!(config_value(" https://x/y.git # mirror"), "https://x/y.git");
        assert_eq!(config_value("https://x/y.git;old"), "https://x/y.git");
        assert_eq!(
            config_value(r#""https://x/a#b.git" ; c"#),
            "https://x/a#b.git"
        );
        assert_eq!(
            config_value(r#""/path with space/ ""#),
            "/path with space/ "
        );
        assert_eq!(config_value(r"C:\\repos\\x"), r"C:\repos\x");
        assert_eq!(config_value(r"tab\t  "), "tab\t");
    }

    #[test]
    fn the_origin_section_is_found_however_it_is_spelt() {
        for header in [
            "[remote \"origin\"]",
            "[Remote \"origin\"]",
            "[remote.origin]",
            "[remote  \"origin\"] # the canonical one",
            "[remote.Origin]",
        ] {
            let dir = checkout();
            write(
                &dir.path().join(".git/config"),
                &format!(
                    "[remote \"Origin\"]\n\turl = wrong\n{header}\n\turl = https://example.com/a.git # mirror\n"
                ),
            );
            assert_eq!(
                origin(dir.path()).as_deref(),
                Some("https://example.com/a.git"),
                "{header}"
            );
        }
    }

    #[test]
    fn the_last_url_wins_and_may_share_the_header_line() {
        let dir = checkout();
        write(
            &dir.path().join(".git/config"),
            "[remote \"origin\"] url = https://example.com/first.git\n[core]\n\tbare = false\n[remote \"origin\"]\n\turl = \"https://example.com/last\\t\"\n",
        );
        assert_eq!(
            origin(dir.path()).as_deref(),
            Some("https://example.com/last\t")
        );
        write(
            &dir.path().join(".git/config"),
            "[remote \"origin\"] url = https://example.com/only.git\n",
        );
        assert_eq!(
            origin(dir.path()).as_deref(),
            Some("https://example.com/only.git")
        );
    }

    #[test]
    fn outside_a_checkout_or_on_an_unborn_branch_there_is_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The temporary directory may itself be inside a checkout; a
        // `.git` file that points nowhere stops the search here.
        write(&dir.path().join(".git"), "not a gitdir line\n");
        assert_eq!(revision(dir.path()), None);
        let dir = checkout();
        assert_eq!(
            revision(dir.path()),
            None,
            "refs/heads/main does not exist yet"
        );
    }

    #[test]
    fn labels_hold_the_revision_and_an_origin_without_its_token() {
        let dir = checkout();
        write(
            &dir.path().join(".git/refs/heads/main"),
            &format!("{COMMIT}\n"),
        );
        write(
            &dir.path().join(".git/config"),
            "[remote \"origin\"]\n\turl = https://ci-token:s3cr3t@gitlab.example.com/org/images.git\n",
        );
        assert_eq!(
            labels(&dir.path().join("images")),
            [
                (
                    "org.opencontainers.image.revision".to_string(),
                    COMMIT.to_string()
                ),
                (
                    "org.opencontainers.image.source".to_string(),
                    "https://gitlab.example.com/org/images.git".to_string()
                ),
            ]
        );
        assert_eq!(labels(tempfile::tempdir().unwrap().path()), []);
    }

    #[test]
    fn clone_urls_lose_their_credentials() {
        assert_eq!(
            without_credentials("https://gitlab-ci-token:s3cr3t@gitlab.example.com/org/images.git"),
            "https://gitlab.example.com/org/images.git"
        );
        assert_eq!(
            without_credentials("https://github.com/org/images"),
            "https://github.com/org/images"
        );
        assert_eq!(
            without_credentials("git@github.com:org/images.git"),
            "github.com:org/images.git"
        );
        assert_eq!(
            without_credentials("ssh://user@host:22/repo"),
            "ssh://host:22/repo"
        );
    }
}
