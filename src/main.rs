//! The `bentoml-docker` binary: runs the library and maps the result to an
//! exit code (0 ok, 1 failure, 2 invalid input or usage, 130 interrupted).

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = miette::set_hook(Box::new(move |_| {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        Box::new(
            miette::GraphicalReportHandler::new_themed(theme)
                .with_width(100)
                .with_links(false),
        )
    }));
    let mut stdout = std::io::stdout().lock();
    match bentoml_docker::run(std::env::args_os(), &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not a failure worth a message.
        Err(failure)
            if matches!(failure.error(), bentoml_docker::Error::Stdout(e)
                if e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(failure) => {
            let code = failure.exit_code();
            eprintln!("{:?}", miette::Report::new(failure));
            ExitCode::from(code)
        }
    }
}
