//! A target's tests: shell commands run in throwaway containers of its
//! image, without network, each bounded by the timeout; the first failure
//! fails the target. Their output goes to the target's test log.

use std::io::Write as _;

use super::job::Job;
use super::log::{self, Log};
use crate::run::{Event, Outcome, Status, TestRun};

impl Job {
    /// `test`: the tests of an image that exists.
    pub(super) async fn test_existing(&self) -> Outcome {
        let name = self.target.name.as_str();
        match self.engine.inspect(name).await {
            Ok(Some(image)) => {
                let mut outcome = Outcome::new(name, Status::Passed);
                outcome.image = Some(image.id);
                self.run_tests(&mut outcome).await;
                outcome
            }
            Ok(None) => Outcome::new(name, Status::Skipped).because("no image: build it first"),
            Err(e) => {
                Outcome::new(name, Status::Failed).because(format!("cannot inspect `{name}`: {e}"))
            }
        }
    }

    /// The command line of `test` in the target's image: the shell, with
    /// the versions the original's tests read.
    fn test_command(&self, test: &str) -> Vec<String> {
        vec![
            "env".to_string(),
            format!("PYTHON_VERSION={}", self.target.python_version),
            format!("BENTOML_VERSION={}", self.plan_version),
            "sh".into(),
            "-c".into(),
            test.to_string(),
        ]
    }

    /// Runs `test` (on `platform`), its output in `log`; false when it
    /// failed `outcome`.
    async fn run_test(
        &self,
        test: &str,
        platform: Option<&str>,
        log: &mut Log,
        outcome: &mut Outcome,
    ) -> bool {
        let name = self.target.name.as_str();
        let on = platform.map(|p| format!(" on {p}")).unwrap_or_default();
        self.reporter.event(Event::Testing {
            target: name,
            command: test,
        });
        if let Some(platform) = platform {
            let _ = writeln!(log, "# on {platform}");
        }
        let _ = writeln!(log, "$ {test}");
        let run = self
            .bounded(self.engine.run(name, platform, &self.test_command(test)))
            .await
            .unwrap_or_else(|late| Err(crate::engine::Error::Other(late)));
        let run = match run {
            Ok(run) => run,
            Err(e) => {
                outcome.status = Status::Failed;
                outcome.reason = Some(format!("cannot run test `{test}`{on}: {e}"));
                return false;
            }
        };
        let _ = write!(log, "{}", run.output);
        let _ = writeln!(log, "# exit {}", run.code);
        outcome.tests.push(TestRun {
            command: test.to_string(),
            platform: platform.map(String::from),
            code: run.code,
        });
        if run.code != 0 {
            outcome.status = Status::Failed;
            outcome.reason = Some(format!("test `{test}` failed{on} (exit {})", run.code));
            outcome.log_tail = log::last_lines(&run.output, log::TAIL_LINES);
            return false;
        }
        true
    }

    /// Runs the target's tests in its image; the first failure fails the target.
    pub(super) async fn run_tests(&self, outcome: &mut Outcome) {
        let name = self.target.name.as_str();
        let log_path = self.options.log_dir.join(log::test_file_name(name));
        let mut log = match Log::create(&log_path) {
            Ok(file) => file,
            Err(e) => {
                outcome.status = Status::Failed;
                outcome.reason = Some(format!(
                    "cannot write the test log `{}`: {e}",
                    log_path.display()
                ));
                return;
            }
        };
        // Once per platform of an image of several (emulated where the
        // machine is of another), else on the machine's own.
        let platforms: Vec<Option<&str>> = if self.target.platforms.len() > 1 {
            self.target
                .platforms
                .iter()
                .map(|p| Some(p.as_str()))
                .collect()
        } else {
            vec![None]
        };
        'platforms: for platform in platforms {
            for test in &self.target.tests {
                if !self.run_test(test, platform, &mut log, outcome).await {
                    break 'platforms;
                }
            }
        }
        drop(log);
        outcome.log = Some(log_path);
    }
}
