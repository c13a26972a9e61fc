//! Bounds on one rendering, so that a runaway template (nested loops, a
//! macro that calls itself twice per level, a loop that prints gigabytes)
//! stops with an error that names it instead of running until killed.
//!
//! The defaults are far above what a Dockerfile template needs (the shipped
//! images repo renders each file with under 10,000 fuel, a thousandth of
//! the default, and writes a few kilobytes); each can be raised through an
//! environment variable.

use std::fmt;

use crate::diagnostic::Problem;

/// Names the fuel of one rendering.
pub const FUEL_VARIABLE: &str = "BENTOML_DOCKER_TEMPLATE_FUEL";
/// Names the deepest macro, include or loop recursion.
pub const RECURSION_VARIABLE: &str = "BENTOML_DOCKER_TEMPLATE_RECURSION";
/// Names the largest file one rendering may write, in bytes.
pub const OUTPUT_VARIABLE: &str = "BENTOML_DOCKER_TEMPLATE_MAX_OUTPUT";

/// The deepest nesting minijinja allows: built without its `stacker`
/// feature (which grows the stack), it caps any higher bound at this one
/// silently, so a higher value is refused rather than stated and not held.
pub const MAX_RECURSION: usize = 500;

/// How far one rendering of one template may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// minijinja's fuel: about one per instruction run and per 64 bytes of
    /// data a template makes; bounds both time and memory.
    pub fuel: u64,
    /// How deep macros, includes and recursive loops may nest (at most
    /// [`MAX_RECURSION`]).
    pub recursion: usize,
    /// The most bytes one rendered file may hold.
    pub output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 10_000_000,
            recursion: MAX_RECURSION,
            output: 16 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The defaults, with what the environment overrides.
    ///
    /// # Errors
    /// A variable that is set but is not a positive whole number.
    pub fn from_env() -> Result<Self, Box<Problem>> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Box<Problem>> {
        fn read<T: std::str::FromStr + PartialOrd + Default + fmt::Display>(
            lookup: &impl Fn(&str) -> Option<String>,
            name: &str,
            default: T,
            max: Option<T>,
        ) -> Result<T, Box<Problem>> {
            let Some(text) = lookup(name) else {
                return Ok(default);
            };
            match text.trim().parse::<T>() {
                Ok(value) if max.as_ref().is_some_and(|max| value > *max) => Err(Box::new(
                    Problem::plain(format!(
                        "`{name}` is `{text}`, above {}, the deepest the template engine can nest",
                        max.unwrap_or_default()
                    ))
                    .help(format!(
                        "set it to at most {default}, or unset it for the default ({default})"
                    )),
                )),
                Ok(value) if value > T::default() => Ok(value),
                _ => Err(Box::new(
                    Problem::plain(format!("`{name}` is `{text}`, not a positive whole number"))
                        .help(format!("unset it for the default ({default})")),
                )),
            }
        }
        let defaults = Self::default();
        Ok(Self {
            fuel: read(&lookup, FUEL_VARIABLE, defaults.fuel, None)?,
            recursion: read(
                &lookup,
                RECURSION_VARIABLE,
                defaults.recursion,
                Some(MAX_RECURSION),
            )?,
            output: read(&lookup, OUTPUT_VARIABLE, defaults.output, None)?,
        })
    }
}

/// A rendering's output that refuses to grow past a size.
#[derive(Debug)]
pub(super) struct Bounded {
    bytes: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl Bounded {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
            overflowed: false,
        }
    }

    /// True when a write went past the limit (and the rendering failed for it).
    pub(super) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// What was written: minijinja writes whole `str`s, so it is UTF-8.
    pub(super) fn into_string(self) -> String {
        String::from_utf8(self.bytes)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
    }
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            self.overflowed = true;
            return Err(std::io::Error::other("the output is too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn the_environment_overrides_each_limit_and_rejects_nonsense() {
        let limits = Limits::from_lookup(|name| (name == FUEL_VARIABLE).then(|| "1000".into()));
        assert_eq!(
            limits.unwrap(),
            Limits {
                fuel: 1000,
                ..Limits::default()
            }
        );
        for bad in ["0", "-1", "lots", ""] {
            let error = Limits::from_lookup(|name| (name == OUTPUT_VARIABLE).then(|| bad.into()))
                .unwrap_err();
            assert!(error.message().contains(OUTPUT_VARIABLE), "{bad}");
        }
    }

    #[test]
    fn a_recursion_bound_above_what_minijinja_holds_is_refused_not_capped() {
        let read = |value: &'static str| {
            Limits::from_lookup(move |name| (name == RECURSION_VARIABLE).then(|| value.into()))
        };
        assert_eq!(read("500").unwrap().recursion, 500);
        assert_eq!(read("20").unwrap().recursion, 20);
        let error = read("501").unwrap_err();
        assert!(error.message().contains("above 500"), "{}", error.message());
    }

    #[test]
    fn output_past_the_limit_is_refused() {
        let mut out = Bounded::new(4);
        out.write_all(b"abc").unwrap();
        assert!(out.write_all(b"de").is_err());
        assert!(out.overflowed());
    }
}
