//! `kubectl-fed`: entry point of the kubectl plugin; see `kubefed::plugin`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match kubefed::plugin::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        // Usage errors, --help and --version, formatted and with clap's exit codes.
        Err(err) => err.exit(),
    };
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
    let error_code = cli.command.error_code();
    match runtime.block_on(kubefed::plugin::run(cli)) {
        Ok(reply) => {
            if !reply.output.is_empty() {
                println!("{}", reply.output);
            }
            ExitCode::from(reply.code)
        }
        Err(err) => {
            // One line, whatever the underlying error text looks like.
            let message = err.to_string().replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::from(error_code)
        }
    }
}
