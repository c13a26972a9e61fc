//! Credentials for a program that reads them only from a file (buildah's
//! `--authfile`): written into a private temporary directory (0700, the
//! file 0600) and removed when dropped, so that they never reach a process
//! argument and do not outlive the request.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::Credentials;

/// A `containers-auth.json` holding one registry's credentials.
pub struct AuthFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl AuthFile {
    /// The file for `host` (`registry.example` or `127.0.0.1:5000`).
    ///
    /// # Errors
    /// When the temporary directory or the file cannot be written.
    pub fn new(host: &str, credentials: &Credentials) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("bentoml-docker-auth-")
            .tempdir()?;
        // Before anything is written in it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let path = dir.path().join("auth.json");
        let pair = format!("{}:{}", credentials.username, credentials.password);
        let mut auths = serde_json::Map::new();
        auths.insert(
            host.to_string(),
            serde_json::json!({ "auth": super::scrub::base64(pair.as_bytes()) }),
        );
        let json = serde_json::json!({ "auths": auths });
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(json.to_string().as_bytes())?;
        Ok(Self { _dir: dir, path })
    }

    /// Where it is.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_file_is_private_and_gone_when_dropped() {
        let credentials = Credentials {
            username: "u".into(),
            password: "p".into(),
        };
        let file = AuthFile::new("127.0.0.1:5000", &credentials).unwrap();
        let path = file.path().to_path_buf();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["auths"]["127.0.0.1:5000"]["auth"], "dTpw");
        drop(file);
        assert!(!path.exists() && !path.parent().unwrap().exists());
    }
}
