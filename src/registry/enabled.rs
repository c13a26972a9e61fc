//! Which of the manifest's registries are enabled, and their credentials:
//! from the environment or the images repo's `.env`, never from the
//! manifest, and never printed.

use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::manifest::Manifest;

/// A user name and password. Never printed: `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// A registry to push to.
#[derive(Clone, Debug)]
pub struct Enabled {
    /// Its key in the manifest, e.g. `docker.io`.
    pub host: String,
    /// Package name to repository path.
    pub repositories: Vec<(String, String)>,
    /// Its credentials, when `user`/`pwd` are given.
    pub credentials: Option<Credentials>,
    /// The names of the variables `user` and `pwd` name, for messages.
    pub variables: Vec<String>,
}

impl Enabled {
    /// The repository path of `package` here.
    #[must_use]
    pub fn repository(&self, package: &str) -> Option<&str> {
        self.repositories
            .iter()
            .find(|(p, _)| p == package)
            .map(|(_, r)| r.as_str())
    }
}

/// Why registries cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A credential variable is not set.
    #[error(
        "registry `{registry}` needs the environment variable `{variable}` ({role}), which is not set"
    )]
    #[diagnostic(help("export it, or put `{variable}=...` in `.env` in the images repo"))]
    MissingVariable {
        /// The registry.
        registry: String,
        /// The variable's name.
        variable: String,
        /// What it holds.
        role: &'static str,
    },
    /// `.env` cannot be read.
    #[error("cannot read `{path}`: {message}")]
    DotEnv {
        /// Its path.
        path: String,
        /// Why.
        message: String,
    },
}

impl Error {
    /// 2: a credential variable or `.env` is set up wrong, which the user
    /// fixes before any push is tried.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// Variables from the environment, then from `.env` (the environment wins).
#[derive(Default)]
pub struct Variables {
    dotenv: HashMap<String, String>,
    /// Warnings found while reading (a `.env` others can read).
    pub warnings: Vec<String>,
}

impl Variables {
    /// Reads `.env` in `root`, if there is one.
    ///
    /// # Errors
    /// When `.env` exists but cannot be parsed.
    pub fn load(root: &Path) -> Result<Self, Error> {
        let path = root.join(".env");
        let mut variables = Self::default();
        let Ok(metadata) = std::fs::metadata(&path) else {
            return Ok(variables);
        };
        if metadata.permissions().mode() & 0o044 != 0 {
            variables.warnings.push(format!(
                "`{}` can be read by other users; `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
        let entries = dotenvy::from_path_iter(&path).map_err(|e| Error::DotEnv {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        for entry in entries {
            // A line's content may be a secret: never quote it.
            let (name, value) = entry.map_err(|_| Error::DotEnv {
                path: path.display().to_string(),
                message: "a line is not `NAME=value`".into(),
            })?;
            variables.dotenv.insert(name, value);
        }
        Ok(variables)
    }

    /// A variable: the environment's, else `.env`'s; unset when empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
            .filter(|v| !v.is_empty())
    }
}

/// Where the images would go, without credentials: the repositories
/// (package, repository path) of each registry whose `only_if` variable is
/// set. For tags that name a registry (a bake file's), not for pushing.
#[must_use]
pub fn repositories(manifest: &Manifest, variables: &Variables) -> Vec<Vec<(String, String)>> {
    manifest
        .registries
        .iter()
        .filter(|registry| switched_on(registry, variables))
        .map(|registry| registry.repositories.clone())
        .collect()
}

/// Whether `registry` is used: it has no `only_if`, or its variable is set.
fn switched_on(registry: &crate::manifest::Registry, variables: &Variables) -> bool {
    registry
        .only_if
        .as_ref()
        .is_none_or(|only_if| variables.get(only_if).is_some())
}

/// The registries whose `only_if` variable is set, with their credentials.
///
/// # Errors
/// When an enabled registry's `user` or `pwd` variable is not set.
pub fn enabled(manifest: &Manifest, variables: &Variables) -> Result<Vec<Enabled>, Error> {
    let mut registries = Vec::new();
    for registry in &manifest.registries {
        if !switched_on(registry, variables) {
            continue;
        }
        let read =
            |variable: &Option<String>, role: &'static str| -> Result<Option<String>, Error> {
                let Some(variable) = variable else {
                    return Ok(None);
                };
                variables
                    .get(variable)
                    .map(Some)
                    .ok_or_else(|| Error::MissingVariable {
                        registry: registry.host.clone(),
                        variable: variable.clone(),
                        role,
                    })
            };
        let username = read(&registry.user, "the user name")?;
        let password = read(&registry.pwd, "the password")?;
        registries.push(Enabled {
            host: registry.host.clone(),
            repositories: registry.repositories.clone(),
            credentials: username
                .zip(password)
                .map(|(username, password)| Credentials { username, password }),
            variables: [&registry.user, &registry.pwd]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        });
    }
    Ok(registries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_never_debug_printed() {
        let registry = Enabled {
            host: "r".into(),
            repositories: Vec::new(),
            credentials: Some(Credentials {
                username: "u".into(),
                password: "s3cret".into(),
            }),
            variables: Vec::new(),
        };
        assert!(!format!("{registry:?}").contains("s3cret"));
    }
}
