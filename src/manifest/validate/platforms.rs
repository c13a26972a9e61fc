//! `platforms` of a release spec: the `os/arch[/variant]` each image of
//! the release is built for, as BuildKit and buildah name them.

use super::{Checker, Node, Value};

/// Operating systems images are built for.
const OSES: [&str; 2] = ["linux", "windows"];

/// Architectures, each with the variants it has.
const ARCHITECTURES: [(&str, &[&str]); 10] = [
    ("amd64", &["v1", "v2", "v3", "v4"]),
    ("arm64", &["v8"]),
    ("arm", &["v5", "v6", "v7"]),
    ("386", &[]),
    ("ppc64le", &[]),
    ("s390x", &[]),
    ("riscv64", &[]),
    ("mips64le", &[]),
    ("mips64", &[]),
    ("loong64", &[]),
];

/// Why `platform` is not one, if it is not.
pub(crate) fn check_platform(platform: &str) -> Result<(), String> {
    let parts: Vec<&str> = platform.split('/').collect();
    let (os, arch, variant) = match parts[..] {
        [os, arch] => (os, arch, None),
        [os, arch, variant] => (os, arch, Some(variant)),
        _ => return Err("is not `os/arch` or `os/arch/variant`".into()),
    };
    if !OSES.contains(&os) {
        return Err(format!(
            "has an unknown operating system `{os}` (known: {})",
            OSES.join(", ")
        ));
    }
    let Some((_, variants)) = ARCHITECTURES.iter().find(|(a, _)| *a == arch) else {
        let known: Vec<&str> = ARCHITECTURES.iter().map(|(a, _)| *a).collect();
        return Err(format!(
            "has an unknown architecture `{arch}` (known: {})",
            known.join(", ")
        ));
    };
    match variant {
        Some(variant) if !variants.contains(&variant) => Err(if variants.is_empty() {
            format!("has a variant `{variant}`, but `{arch}` has none")
        } else {
            format!(
                "has an unknown variant `{variant}` of `{arch}` (known: {})",
                variants.join(", ")
            )
        }),
        _ => Ok(()),
    }
}

impl Checker {
    /// The platforms of a release spec, each checked; duplicates reported.
    pub(super) fn platforms(&mut self, node: &Node, what: &str) -> Vec<String> {
        let Value::Seq(items) = &node.value else {
            self.report_node(
                node,
                format!("{what} must be a list, found {}", node.value.kind()),
                "expected a list such as [linux/amd64, linux/arm64]",
            );
            return Vec::new();
        };
        let mut platforms: Vec<String> = Vec::new();
        for item in items.iter() {
            let Some(platform) = self.item(item, "a platform") else {
                continue;
            };
            if let Err(why) = check_platform(&platform) {
                let problem = self
                    .problem(item.at, format!("platform `{platform}` {why}"), "here")
                    .help("platforms are written `os/arch` or `os/arch/variant`, e.g. `linux/amd64`, `linux/arm64`, `linux/arm/v7`");
                self.problems.push(problem);
            } else if platforms.contains(&platform) {
                self.report(
                    item.at,
                    format!("platform `{platform}` is listed twice in {what}"),
                    "second time",
                );
            } else {
                platforms.push(platform);
            }
        }
        if items.is_empty() {
            let problem = self
                .problem(node.at, format!("{what} is empty"), "no platforms")
                .help(
                    "list the platforms, or leave `platforms` out to build for the builder's own",
                );
            self.problems.push(problem);
        }
        platforms
    }
}

#[cfg(test)]
mod tests {
    use super::check_platform;

    #[test]
    fn platforms_are_os_arch_and_a_variant_the_arch_has() {
        for good in [
            "linux/amd64",
            "linux/arm64",
            "linux/arm64/v8",
            "linux/arm/v7",
            "windows/amd64",
        ] {
            assert_eq!(check_platform(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("linux", "is not `os/arch`"),
            ("linux/amd64/v2/x", "is not `os/arch`"),
            ("darwin/arm64", "unknown operating system `darwin`"),
            ("linux/x86_64", "unknown architecture `x86_64`"),
            ("linux/arm/v9", "unknown variant `v9` of `arm`"),
            ("linux/s390x/v1", "variant `v1`, but `s390x` has none"),
        ] {
            let said = check_platform(bad).unwrap_err();
            assert!(said.contains(why), "{bad}: {said}");
        }
    }
}
