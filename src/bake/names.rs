//! The names a bake file gives its targets and groups.
//!
//! Bake accepts target and group names of `[a-zA-Z0-9_-]+` only, and a
//! name given on the command line is looked up among the groups first: a
//! target whose name is also a group's could never be built on its own.
//! The two kinds are kept apart by construction:
//!
//! - a **target** is named after its `PACKAGE:TAG`, lower-cased, with every
//!   character other than `a-z`, `0-9` and `-` written `_`:
//!   `model-server:1.3.0-python3.11-slim-runtime` is
//!   `model-server_1_3_0-python3_11-slim-runtime`. The `:` always becomes
//!   `_`, so every target name holds a `_`;
//! - a **group** is `default` (every target of the file), or a kind and a
//!   name: `package-<package>`, `release-type-<release type>`,
//!   `distro-<distro>`, lower-cased, with every character other than `a-z`,
//!   `0-9` and `-` written `-`: `distro-debian`, `package-model-server`.
//!   A group name never holds a `_`, so it is never a target's name.
//!
//! Names depend on nothing but the plan target, so they are the same on
//! every run. Two different things that would get one name are an error
//! naming both, never a silent merge.

/// The bake target name of the plan target `PACKAGE:TAG`.
#[must_use]
pub fn target_name(plan_name: &str) -> String {
    mapped(plan_name, '_')
}

/// The group holding every target of `package`.
#[must_use]
pub fn package_group(package: &str) -> String {
    format!("package-{}", mapped(package, '-'))
}

/// The group holding every target of `release_type`.
#[must_use]
pub fn release_type_group(release_type: &str) -> String {
    format!("release-type-{}", mapped(release_type, '-'))
}

/// The group holding every target of `distro`, all its releases.
#[must_use]
pub fn distro_group(distro: &str) -> String {
    format!("distro-{}", mapped(distro, '-'))
}

/// The group of every target in the file: what `docker buildx bake`
/// builds when no target is named.
pub const DEFAULT_GROUP: &str = "default";

fn mapped(text: &str, other: char) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                other
            }
        })
        .collect()
}

/// Whether `name` is one bake accepts: `[a-zA-Z0-9_-]+`.
#[must_use]
pub fn is_valid(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
