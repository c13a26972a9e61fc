//! `cuda_dependencies`: each CUDA release with its component packages,
//! at most one of them cuDNN.

use super::{Checker, Node, Value};
use crate::manifest::{Cuda, Cudnn};

impl Checker {
    pub(super) fn cuda_dependencies(&mut self, node: &Node) -> Vec<Cuda> {
        let mut releases = Vec::new();
        for (key, components) in self.entries(node, "`cuda_dependencies`") {
            let parts: Vec<&str> = key.name.split('.').collect();
            let well_formed = parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !well_formed {
                let problem = self
                    .problem(
                        key.at,
                        format!("`{}` is not a CUDA version", key.name),
                        "expected MAJOR.MINOR.PATCH",
                    )
                    .help("CUDA versions look like `11.3.1`");
                self.problems.push(problem);
                continue;
            }
            let what = format!("CUDA `{}`", key.name);
            self.control_characters(components, &what, &[]);
            let mut cuda = Cuda {
                version: key.name.to_string(),
                major: parts[0].to_string(),
                minor: parts[1].to_string(),
                components: Vec::new(),
                cudnn: None,
            };
            for (name, value) in self.entries(components, &what) {
                let Some(version) = self.text(value, &format!("component `{}`", name.name)) else {
                    if matches!(value.value, Value::Null) {
                        self.report_node(
                            value,
                            format!("component `{}` of {what} has no version", name.name),
                            "expected a package version",
                        );
                    }
                    continue;
                };
                if !name.name.starts_with("cudnn") {
                    cuda.components.push((name.name.to_string(), version));
                    continue;
                }
                if let Some(first) = &cuda.cudnn {
                    let problem = self
                        .problem(
                            name.at,
                            format!("{what} has a second cuDNN component `{}`", name.name),
                            "second cuDNN component",
                        )
                        .help(format!(
                            "a CUDA release has at most one cuDNN component; keep `{}` or this one",
                            first.name
                        ));
                    self.problems.push(problem);
                    continue;
                }
                let major_version = version.split('.').next().unwrap_or_default().to_string();
                cuda.cudnn = Some(Cudnn {
                    name: name.name.to_string(),
                    version,
                    major_version,
                });
            }
            releases.push(cuda);
        }
        releases
    }
}
