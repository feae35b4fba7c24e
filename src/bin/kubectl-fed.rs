//! `kubectl-fed`: entry point of the kubectl plugin; see `kubefed::plugin`.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = kubefed::plugin::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kubefed::plugin::run(cli)) {
        Ok(output) => {
            if !output.is_empty() {
                println!("{output}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            // One line, whatever the underlying error text looks like.
            let message = err.to_string().replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
