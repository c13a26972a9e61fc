//! Reading `docker buildx bake --progress rawjson`: BuildKit's status
//! objects, concatenated pretty-printed JSON on standard error, with the
//! plain lines buildx writes between them (its closing error).
//!
//! Every vertex (a step) is named `[TARGET STEP/TOTAL] INSTRUCTION`,
//! `[TARGET internal] ...` or `[TARGET] exporting ...`: bake prefixes the
//! name with the target whose build reported it. A dependent's build holds
//! its base's whole graph, so a step of the base is reported under the
//! base's name and under each dependent's; BuildKit runs it once. A step
//! belongs to the most base-ward target it is reported under ([`Tracker`]).

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use serde::Deserialize;

use super::super::{BuildOutput, GraphOutput};

/// One status object.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SolveStatus {
    #[serde(default)]
    vertexes: Option<Vec<Vertex>>,
    #[serde(default)]
    logs: Option<Vec<VertexLog>>,
}

#[derive(Debug, Deserialize)]
struct Vertex {
    digest: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    started: Option<String>,
    #[serde(default)]
    completed: Option<String>,
    #[serde(default)]
    cached: bool,
    #[serde(default)]
    error: String,
}

#[derive(Debug, Deserialize)]
struct VertexLog {
    vertex: String,
    #[serde(default)]
    data: String,
}

/// A piece of the stream.
#[derive(Debug)]
pub(super) enum Piece {
    Status(SolveStatus),
    /// A line that is not JSON.
    Text(String),
}

/// Splits the bytes of standard error, as they come, into pieces.
#[derive(Debug, Default)]
pub(super) struct Reader {
    buffer: Vec<u8>,
}

impl Reader {
    /// The pieces complete once `bytes` are added.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Vec<Piece> {
        self.buffer.extend_from_slice(bytes);
        let mut pieces = Vec::new();
        let mut used = 0;
        while let Some((piece, length)) = next_piece(&self.buffer[used..]) {
            used += length;
            pieces.extend(piece);
        }
        self.buffer.drain(..used);
        pieces
    }

    /// What is left at the end of the stream, as text.
    pub(super) fn finish(&mut self) -> Vec<Piece> {
        let rest = String::from_utf8_lossy(&self.buffer).into_owned();
        self.buffer.clear();
        rest.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| Piece::Text(line.to_string()))
            .collect()
    }
}

/// The first piece of `bytes` and its length, when it is complete
/// (`None` as the piece for blank space).
fn next_piece(bytes: &[u8]) -> Option<(Option<Piece>, usize)> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    if bytes[start] == b'{' {
        let mut stream =
            serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<SolveStatus>();
        match stream.next() {
            Some(Ok(status)) => {
                return Some((Some(Piece::Status(status)), start + stream.byte_offset()));
            }
            // Not all of it has come yet.
            Some(Err(e)) if e.is_eof() => return None,
            // A line that starts with `{` and is no status: text.
            _ => {}
        }
    }
    let end = bytes[start..].iter().position(|&b| b == b'\n')?;
    let line = String::from_utf8_lossy(&bytes[start..start + end]);
    Some((
        Some(Piece::Text(line.trim_end().to_string())),
        start + end + 1,
    ))
}

/// A vertex name read: the target, what follows it in the brackets, and
/// the instruction.
struct Name<'a> {
    target: &'a str,
    detail: &'a str,
    instruction: &'a str,
}

fn parse_name(name: &str) -> Option<Name<'_>> {
    let rest = name.strip_prefix('[')?;
    let (inside, instruction) = rest.split_once(']')?;
    let (target, detail) = inside.split_once(' ').unwrap_or((inside, ""));
    Some(Name {
        target,
        detail,
        instruction: instruction.trim_start(),
    })
}

/// `STEP/TOTAL` at the end of the bracket (after a stage or platform).
fn step(detail: &str) -> Option<BuildOutput> {
    let (current, total) = detail.rsplit(' ').next()?.split_once('/')?;
    Some(BuildOutput::Step {
        current: current.parse().ok()?,
        total: total.parse().ok()?,
    })
}

/// What is known of one vertex.
#[derive(Default)]
struct Seen {
    owner: usize,
    label: String,
    started: bool,
    completed: bool,
    /// The end of its output that has no line break yet.
    partial: String,
}

/// Turns status objects into what each target did.
pub(super) struct Tracker {
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Each target's bases in the file, transitively.
    ancestors: Vec<HashSet<usize>>,
    vertexes: HashMap<String, Seen>,
    started: Vec<bool>,
    exported: Vec<bool>,
    finished: Vec<bool>,
    failed: Vec<bool>,
    /// Steps started and not completed, per target.
    open: Vec<HashSet<String>>,
}

impl Tracker {
    /// For the targets of a bake file, each with its base in the file.
    pub(super) fn new(targets: &[(String, Option<String>)]) -> Self {
        let index: HashMap<String, usize> = targets
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i))
            .collect();
        let ancestors = targets
            .iter()
            .map(|(_, base)| {
                let mut found = HashSet::new();
                let mut next = base.as_deref().and_then(|b| index.get(b)).copied();
                while let Some(i) = next.filter(|i| found.insert(*i)) {
                    next = targets[i].1.as_deref().and_then(|b| index.get(b)).copied();
                }
                found
            })
            .collect();
        let n = targets.len();
        Self {
            names: targets.iter().map(|(name, _)| name.clone()).collect(),
            index,
            ancestors,
            vertexes: HashMap::new(),
            started: vec![false; n],
            exported: vec![false; n],
            finished: vec![false; n],
            failed: vec![false; n],
            open: vec![HashSet::new(); n],
        }
    }

    /// Whether `target` was reported finished.
    pub(super) fn finished(&self, target: &str) -> bool {
        self.index.get(target).is_some_and(|&i| self.finished[i])
    }

    /// What `status` says each target did.
    pub(super) fn on(&mut self, status: SolveStatus) -> Vec<GraphOutput> {
        let mut said = Vec::new();
        for vertex in status.vertexes.unwrap_or_default() {
            self.vertex(vertex, &mut said);
        }
        for log in status.logs.unwrap_or_default() {
            self.log(&log, &mut said);
        }
        said
    }

    fn vertex(&mut self, vertex: Vertex, said: &mut Vec<GraphOutput>) {
        let Some(name) = parse_name(&vertex.name) else {
            return;
        };
        let Some(&reported) = self.index.get(name.target) else {
            return;
        };
        let internal = name.detail == "internal";
        let exporting = name.detail.is_empty();
        let label = if exporting {
            name.instruction.to_string()
        } else {
            format!("[{}] {}", name.detail, name.instruction)
        };
        let step = step(name.detail);
        let seen = self.vertexes.entry(vertex.digest.clone()).or_insert(Seen {
            owner: reported,
            label: label.clone(),
            ..Seen::default()
        });
        // Reported under its base too: the base's step.
        if self.ancestors[seen.owner].contains(&reported) {
            if self.open[seen.owner].remove(&vertex.digest) {
                self.open[reported].insert(vertex.digest.clone());
            }
            seen.owner = reported;
            seen.label = label;
        }
        let owner = seen.owner;
        let target = &self.names[owner];
        // A target whose base is in the file starts FROM a named context,
        // never a `FROM` step of its own: such a step, before its base
        // reports it too, is the base's.
        let borrowed = name.instruction.starts_with("FROM ") && !self.ancestors[owner].is_empty();
        if vertex.started.is_some() && !seen.started && !internal && !borrowed {
            seen.started = true;
            self.open[owner].insert(vertex.digest.clone());
            if !self.started[owner] {
                self.started[owner] = true;
                said.push(GraphOutput::Started(target.clone()));
            }
            if let Some(step) = step {
                said.push(GraphOutput::Output(target.clone(), step));
            }
            let cached = if vertex.cached { " (cached)" } else { "" };
            said.push(GraphOutput::Output(
                target.clone(),
                BuildOutput::Line(format!("#  {}{cached}", seen.label)),
            ));
        }
        if vertex.completed.is_none() || seen.completed {
            return;
        }
        seen.completed = true;
        self.open[owner].remove(&vertex.digest);
        // A step cut off because another failed (or the run stopped) did
        // not fail itself.
        let cancelled = vertex.error.ends_with("context canceled");
        if !vertex.error.is_empty() && !cancelled {
            if !self.failed[owner] {
                self.failed[owner] = true;
                said.push(GraphOutput::Failed(target.clone(), vertex.error));
            }
            return;
        }
        if cancelled {
            return;
        }
        if exporting && name.instruction.starts_with("exporting") {
            self.exported[owner] = true;
        }
        if self.exported[owner] && self.open[owner].is_empty() && !self.finished[owner] {
            self.finished[owner] = true;
            said.push(GraphOutput::Finished(target.clone()));
        }
    }

    fn log(&mut self, log: &VertexLog, said: &mut Vec<GraphOutput>) {
        let Some(seen) = self.vertexes.get_mut(&log.vertex) else {
            return;
        };
        let Ok(data) = base64::engine::general_purpose::STANDARD.decode(&log.data) else {
            return;
        };
        seen.partial.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = seen.partial.find('\n') {
            let line: String = seen.partial.drain(..=end).collect();
            said.push(GraphOutput::Output(
                self.names[seen.owner].clone(),
                BuildOutput::Line(line.trim_end_matches(['\n', '\r']).to_string()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bake-progress");

    /// Everything a captured run said, fed in chunks of `chunk` bytes.
    fn replay(file: &str, chunk: usize) -> (Vec<GraphOutput>, Vec<String>) {
        let bytes = std::fs::read(format!("{FIXTURES}/{file}")).unwrap();
        let mut reader = Reader::default();
        let mut tracker =
            Tracker::new(&[("base".into(), None), ("app".into(), Some("base".into()))]);
        let mut said = Vec::new();
        let mut text = Vec::new();
        let mut pieces = Vec::new();
        for part in bytes.chunks(chunk) {
            pieces.extend(reader.feed(part));
        }
        pieces.extend(reader.finish());
        for piece in pieces {
            match piece {
                Piece::Status(status) => said.extend(tracker.on(status)),
                Piece::Text(line) => text.push(line),
            }
        }
        (said, text)
    }

    fn position(said: &[GraphOutput], wanted: &GraphOutput) -> usize {
        said.iter()
            .position(|s| s == wanted)
            .unwrap_or_else(|| panic!("{wanted:?} not in {said:#?}"))
    }

    fn lines_of<'a>(said: &'a [GraphOutput], target: &str) -> Vec<&'a str> {
        said.iter()
            .filter_map(|s| match s {
                GraphOutput::Output(t, BuildOutput::Line(line)) if t == target => {
                    Some(line.as_str())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_base_step_reported_under_its_dependent_belongs_to_the_base() {
        // Captured from buildx 0.13.1: the base's `RUN echo base-says-hi`
        // is reported as `[app 2/2]` too.
        let (said, _) = replay("built.rawjson", 4096);
        let base_line = lines_of(&said, "base");
        assert!(
            base_line.iter().any(|l| l.starts_with("base-says-hi")),
            "{base_line:?}"
        );
        let app = lines_of(&said, "app");
        assert!(!app.iter().any(|l| l.contains("base-says-hi")), "{app:?}");
        assert!(
            app.contains(&"app-out") && app.contains(&"app-err"),
            "{app:?}"
        );
        let base_done = position(&said, &GraphOutput::Finished("base".into()));
        let app_started = position(&said, &GraphOutput::Started("app".into()));
        let app_done = position(&said, &GraphOutput::Finished("app".into()));
        assert!(position(&said, &GraphOutput::Started("base".into())) < base_done);
        assert!(app_started < app_done);
        assert!(
            !said.iter().any(|s| matches!(s, GraphOutput::Failed(..))),
            "{said:#?}"
        );
    }

    #[test]
    fn the_steps_of_each_target_are_its_own() {
        let (said, _) = replay("built.rawjson", 100_000);
        let steps = |target: &str| -> Vec<(usize, usize)> {
            said.iter()
                .filter_map(|s| match s {
                    GraphOutput::Output(t, BuildOutput::Step { current, total }) if t == target => {
                        Some((*current, *total))
                    }
                    _ => None,
                })
                .collect()
        };
        assert_eq!(steps("base"), [(1, 2), (2, 2)]);
        assert_eq!(steps("app"), [(1, 2)]);
    }

    #[test]
    fn a_failed_step_fails_its_target_and_the_closing_error_is_text() {
        for chunk in [1, 7, 4096] {
            let (said, text) = replay("failed-dependent.rawjson", chunk);
            let failed: Vec<_> = said
                .iter()
                .filter(|s| matches!(s, GraphOutput::Failed(..)))
                .collect();
            assert_eq!(failed.len(), 1, "{said:#?}");
            let GraphOutput::Failed(target, why) = failed[0] else {
                unreachable!()
            };
            assert_eq!(target, "app");
            assert!(why.contains("exit code: 3"), "{why}");
            assert!(said.contains(&GraphOutput::Finished("base".into())));
            assert!(!said.contains(&GraphOutput::Finished("app".into())));
            assert!(lines_of(&said, "app").contains(&"app-err"));
            assert!(
                text.last().unwrap().starts_with("ERROR: failed to solve"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_step_cut_off_by_another_failure_is_no_failure_of_its_own() {
        let mut tracker = Tracker::new(&[("a".into(), None), ("b".into(), None)]);
        let status = |json: &str| serde_json::from_str::<SolveStatus>(json).unwrap();
        let said = tracker.on(status(
            r#"{"vertexes": [
                {"digest": "sha256:1", "name": "[a 2/2] RUN false", "started": "t", "completed": "t",
                 "error": "process \"/bin/sh -c false\" did not complete successfully: exit code: 1"},
                {"digest": "sha256:2", "name": "[b 2/2] RUN sleep 9", "started": "t", "completed": "t",
                 "error": "context canceled"}
            ]}"#,
        ));
        let failed: Vec<&str> = said
            .iter()
            .filter_map(|s| match s {
                GraphOutput::Failed(target, _) => Some(target.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(failed, ["a"]);
        assert!(!said.contains(&GraphOutput::Finished("b".into())));
    }

    #[test]
    fn names_are_read_with_stages_and_platforms() {
        let name = parse_name("[app linux/arm64 builder 3/7] RUN make").unwrap();
        assert_eq!(name.target, "app");
        assert_eq!(
            step(name.detail),
            Some(BuildOutput::Step {
                current: 3,
                total: 7
            })
        );
        assert_eq!(name.instruction, "RUN make");
        let export = parse_name("[app] exporting to image").unwrap();
        assert_eq!(
            (export.detail, export.instruction),
            ("", "exporting to image")
        );
        assert!(step("internal").is_none());
        assert!(parse_name("exporting to image").is_none());
    }
}
