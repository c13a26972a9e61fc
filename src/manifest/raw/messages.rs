//! The parser's messages as a manifest's writer should read them: one
//! line, without the place (the report shows it), in the writer's terms.

pub(super) fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    // serde-saphyr appends " at line X column Y"; the report shows the place itself.
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

/// The parser's messages in a manifest writer's terms: its own speak to
/// the author of the program that reads the YAML ("use Option<String>",
/// "set DuplicateKeyPolicy in Options", "use from_str_multiple").
pub(super) struct InWords;

impl serde_saphyr::MessageFormatter for InWords {
    fn format_message<'a>(&self, error: &'a serde_saphyr::Error) -> std::borrow::Cow<'a, str> {
        use serde_saphyr::Error as E;
        let words = match error {
            E::DuplicateMappingKey { key: Some(key), .. } => format!("duplicate key `{key}`"),
            E::DuplicateMappingKey { key: None, .. } => "duplicate key".into(),
            E::NullIntoString { .. } => "a key is empty (`~`, `null` or nothing): keys are names".into(),
            E::Unexpected { expected, .. } if *expected == "string scalar" => {
                "a key that is not a name (a list, a mapping or nothing): keys are names".into()
            }
            E::MultipleDocuments { .. } => {
                "more than one YAML document (`---`): the manifest is a single document".into()
            }
            E::InvalidBooleanStrict { .. } => {
                "not a boolean: write `true` or `false`".into()
            }
            E::InvalidScalar { ty, .. } => {
                let what = if ty.starts_with('f') { "a number" } else { "a whole number" };
                format!("the value is tagged as {what} but is not one")
            }
            E::TaggedScalarCannotDeserializeIntoString { .. }
            | E::BinaryNotUtf8 { .. }
            | E::InvalidBinaryBase64 { .. } => {
                "a YAML tag bentoml-docker does not read (`!!binary`, `!!timestamp`, ...): write the value as plain text".into()
            }
            E::RecursiveReferencesRequireWeakTypes { .. } => {
                "an alias refers to a node that contains it (a cycle)".into()
            }
            E::Budget { .. }
            | E::AliasReplayCounterOverflow { .. }
            | E::AliasReplayLimitExceeded { .. }
            | E::AliasExpansionLimitExceeded { .. }
            | E::AliasReplayStackDepthExceeded { .. } => {
                "the manifest is too large or too deeply nested (or its aliases expand too far) to be read".into()
            }
            _ => return serde_saphyr::DefaultMessageFormatter.format_message(error),
        };
        std::borrow::Cow::Owned(words)
    }
}
