//! `kubectl-fed`: entry point of the kubectl plugin; see `kubefed::plugin`.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = kubefed::plugin::Cli::parse();
    match kubefed::plugin::run(cli) {
        Ok(output) => {
            if !output.is_empty() {
                println!("{output}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
