//! `bizra completions <shell>`: a completion script, generated from the command line's
//! definition (clap_complete), so it never lags behind the commands.

use clap::Args;
use clap_complete::Shell;
use serde_json::json;

use crate::exit::{CliResult, Exit};
use crate::output::Output;

/// `bizra completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell (bash, zsh, fish, elvish, powershell). For bash:
    /// `bizra completions bash > ~/.local/share/bash-completion/completions/bizra`
    #[arg(value_enum)]
    shell: Shell,
}

/// Runs `bizra completions`.
pub fn run(args: &CompletionsArgs, mut cmd: clap::Command, out: Output) -> CliResult<Exit> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "bizra", &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    out.emit(
        &json!({"shell": args.shell.to_string(), "script": script}),
        |w| w.write_all(script.as_bytes()),
    )?;
    Ok(Exit::Ok)
}
