//! The labels every image gets beside its inputs hash: OCI annotations of
//! what it is, when it was made and what it is built FROM.

use super::BuildOptions;
use crate::plan::{Plan, Target};

/// `SOURCE_DATE_EPOCH` (seconds since 1970, the reproducible-builds
/// convention), read as the time images were made when it is set, so that
/// two builds of the same inputs carry the same labels; unset or empty, the
/// time of each build.
///
/// # Errors
/// When it is not a whole number of seconds in range.
pub fn source_date_epoch(value: Option<&str>) -> Result<Option<jiff::Timestamp>, String> {
    let Some(text) = value.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let seconds: i64 = text.trim().parse().map_err(|_| {
        format!("`SOURCE_DATE_EPOCH={text}` is not a number of seconds since 1970-01-01")
    })?;
    jiff::Timestamp::from_second(seconds)
        .map(Some)
        .map_err(|_| format!("`SOURCE_DATE_EPOCH={text}` is out of range"))
}

/// The labels of `target`'s image, beside the inputs hash.
pub(super) fn of(plan: &Plan, target: &Target, options: &BuildOptions) -> Vec<(String, String)> {
    let mut labels = vec![
        (
            "org.opencontainers.image.title".to_string(),
            target.name.clone(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            plan.matrix.bentoml_version.clone(),
        ),
        (
            "org.opencontainers.image.created".to_string(),
            options
                .source_date_epoch
                .unwrap_or_else(jiff::Timestamp::now)
                .to_string(),
        ),
        (
            "org.opencontainers.image.base.name".to_string(),
            target.from.clone(),
        ),
    ];
    labels.extend(options.labels.iter().cloned());
    labels
}
