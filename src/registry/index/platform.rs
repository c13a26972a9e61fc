//! A platform as an image index and a manifest write it (`os`,
//! `architecture`, `variant`), compared as the container runtimes compare
//! them: `linux/arm64` and `linux/arm64/v8` are the same machine, as are
//! `linux/arm` and `linux/arm/v7`, so a declared platform is not reported
//! missing for the spelling a builder chose.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// An `os/architecture[/variant]`, as written (shown as written), equal to
/// another that names the same machine.
#[derive(Clone, Debug, Eq, serde::Serialize)]
pub struct Platform {
    /// `linux`, `windows`, ...
    pub os: String,
    /// `amd64`, `arm64`, ... (Go's `GOARCH` names).
    pub architecture: String,
    /// `v8`, `v7`, ... for architectures with several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/architecture`, without a variant.
    #[must_use]
    pub fn new(os: &str, architecture: &str) -> Self {
        Self {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }

    /// The same with `variant`.
    #[must_use]
    pub fn with_variant(mut self, variant: &str) -> Self {
        self.variant = Some(variant.to_string());
        self
    }

    /// `unknown/unknown`: what BuildKit gives an attestation manifest,
    /// which describes no machine.
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }

    /// The platform in one spelling: lower case, the aliases of uname and
    /// Debian resolved, the default variant dropped (`arm64/v8`, `amd64/v1`)
    /// or made explicit (`arm` is `arm/v7`), as containerd normalises it.
    fn normalized(&self) -> (String, String, String) {
        let os = match self.os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_string(),
            os => os.to_string(),
        };
        let variant = self
            .variant
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let (architecture, variant) = match self.architecture.to_ascii_lowercase().as_str() {
            "i386" => ("386".to_string(), variant),
            "x86_64" | "x86-64" | "amd64" => (
                "amd64".to_string(),
                if variant == "v1" {
                    String::new()
                } else {
                    variant
                },
            ),
            "aarch64" | "arm64" => (
                "arm64".to_string(),
                if matches!(variant.as_str(), "8" | "v8") {
                    String::new()
                } else {
                    variant
                },
            ),
            "armhf" => ("arm".to_string(), "v7".to_string()),
            "armel" => ("arm".to_string(), "v6".to_string()),
            "arm" => (
                "arm".to_string(),
                match variant.as_str() {
                    "" | "7" => "v7".to_string(),
                    "5" | "6" | "8" => format!("v{variant}"),
                    _ => variant,
                },
            ),
            architecture => (architecture.to_string(), variant),
        };
        (os, architecture, variant)
    }
}

impl PartialEq for Platform {
    fn eq(&self, other: &Self) -> bool {
        self.normalized() == other.normalized()
    }
}

impl Hash for Platform {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized().hash(state);
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = String;

    /// `os/architecture[/variant]`, as `docker build --platform` takes it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.trim().is_empty() || *p != p.trim()) {
            return Err(format!(
                "`{text}` is not a platform: write `os/architecture[/variant]`, e.g. `linux/arm64`"
            ));
        }
        match parts.as_slice() {
            [os, architecture] => Ok(Self::new(os, architecture)),
            [os, architecture, variant] => Ok(Self::new(os, architecture).with_variant(variant)),
            _ => Err(format!(
                "`{text}` is not a platform: write `os/architecture[/variant]`, e.g. `linux/arm64`"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(text: &str) -> Platform {
        text.parse().unwrap()
    }

    #[test]
    fn a_platform_is_read_and_shown_as_written() {
        let arm = platform("linux/arm64/v8");
        assert_eq!(
            (arm.os.as_str(), arm.architecture.as_str()),
            ("linux", "arm64")
        );
        assert_eq!(arm.variant.as_deref(), Some("v8"));
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        assert_eq!(platform("linux/amd64").to_string(), "linux/amd64");
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/arm/v7/x",
            "",
            "linux/ amd64",
        ] {
            let error = bad.parse::<Platform>().unwrap_err();
            assert!(
                error.contains("os/architecture[/variant]"),
                "{bad}: {error}"
            );
        }
    }

    /// `linux/arm64` declared and `linux/arm64/v8` in the index (as
    /// BuildKit and buildah write it) are one platform, not one missing
    /// and one extra.
    #[test]
    fn default_variants_and_aliases_name_the_same_platform() {
        let same = [
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/arm64", "linux/aarch64"),
            ("linux/amd64", "linux/x86_64"),
            ("linux/amd64", "linux/amd64/v1"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/v7", "linux/armhf"),
            ("Linux/AMD64", "linux/amd64"),
        ];
        for (a, b) in same {
            assert_eq!(platform(a), platform(b), "{a} = {b}");
        }
        let different = [
            ("linux/arm64", "linux/amd64"),
            ("linux/arm/v6", "linux/arm/v7"),
            ("linux/amd64/v3", "linux/amd64"),
            ("windows/amd64", "linux/amd64"),
        ];
        for (a, b) in different {
            assert_ne!(platform(a), platform(b), "{a} != {b}");
        }
        let set: std::collections::HashSet<Platform> =
            [platform("linux/arm64"), platform("linux/arm64/v8")].into();
        assert_eq!(set.len(), 1, "equal platforms hash alike");
    }
}
