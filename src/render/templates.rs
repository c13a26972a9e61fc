//! Which template files a release type renders, and the file each renders to.

use std::path::Path;

use crate::manifest::ReleaseType;

/// One template file and the file it renders to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateFile {
    /// The template's name: its path relative to the images repo.
    pub name: String,
    /// The rendered file's name: `Dockerfile` for `*.Dockerfile.j2`, else the
    /// name without `.j2`.
    pub output: String,
}

/// The `.j2` files directly in a templates directory, sorted.
pub(super) fn list_templates(dir: &Path) -> Result<Vec<String>, std::io::Error> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".j2") && entry.file_type()?.is_file() {
            files.push(name);
        }
    }
    files.sort();
    Ok(files)
}

/// The templates of a release type: the files whose name contains it, and
/// for `cudnn` every file that starts with `cuda`, `cudnn` or `nvidia` (the
/// repository files RHEL-like distros need beside the Dockerfile).
pub(super) fn select(
    dir: &str,
    files: &[String],
    release_type: ReleaseType,
) -> Result<Vec<TemplateFile>, String> {
    let wanted = |name: &str| {
        name.contains(release_type.as_str())
            || (release_type == ReleaseType::Cudnn
                && ["cuda", "cudnn", "nvidia"]
                    .iter()
                    .any(|p| name.starts_with(p)))
    };
    let mut set: Vec<TemplateFile> = Vec::new();
    for name in files.iter().filter(|n| wanted(n)) {
        let output = if name.ends_with(".Dockerfile.j2") {
            "Dockerfile".to_string()
        } else {
            name.trim_end_matches(".j2").to_string()
        };
        if let Some(other) = set.iter().find(|f| f.output == output) {
            let other = other.name.rsplit('/').next().unwrap_or_default();
            return Err(format!(
                "both `{other}` and `{name}` would render `{output}` for `{release_type}`"
            ));
        }
        set.push(TemplateFile {
            name: format!("{}/{name}", dir.trim_end_matches('/')),
            output,
        });
    }
    if !set.iter().any(|f| f.output == "Dockerfile") {
        return Err(format!(
            "no `{release_type}` template (a `*.Dockerfile.j2` whose name contains `{release_type}`)"
        ));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_maps_template_names_to_files() {
        let files: Vec<String> = [
            "base.Dockerfile.j2",
            "cuda.repo.j2",
            "cudnn.Dockerfile.j2",
            "nvidia-ml.repo.j2",
            "runtime.Dockerfile.j2",
        ]
        .map(String::from)
        .to_vec();
        let outputs = |t| {
            select("templates/rhel", &files, t)
                .unwrap()
                .into_iter()
                .map(|f| f.output)
                .collect::<Vec<_>>()
        };
        assert_eq!(outputs(ReleaseType::Base), ["Dockerfile"]);
        assert_eq!(
            outputs(ReleaseType::Cudnn),
            ["cuda.repo", "Dockerfile", "nvidia-ml.repo"]
        );
        assert!(select("templates/rhel", &files, ReleaseType::Devel).is_err());
    }
}
