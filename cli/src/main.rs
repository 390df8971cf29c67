//! `bizra`: a node's identity, models, signed inference, envelopes and constitution from the
//! command line. The logic lives in the `bizra` library; this program parses arguments, reads
//! the configuration, calls the library and prints (see `cli/README.md`).
//!
//! Layout: one module per command group under `commands/`, each with its clap arguments and its
//! `run`; `config.rs` (data directory, `config.toml`, environment overrides), `context.rs` (what
//! every command works with, the key's passphrase), `output.rs` (`--json` or human text) and
//! `exit.rs` (the documented exit codes).

#![forbid(unsafe_code)]

mod client;
mod commands;
mod config;
mod context;
mod exit;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::commands::{
    completions, constitution, federation, identity, inference, init, join, models, pci, serve,
    status,
};
use crate::context::Context;
use crate::exit::{CliError, CliResult, Exit};
use crate::output::Output;

/// Verifiable local AI: signed inference, PCI envelopes, gates and the constitution.
#[derive(Debug, Parser)]
#[command(
    name = "bizra",
    version,
    propagate_version = true,
    after_help = Exit::help_text(),
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
struct GlobalArgs {
    /// The data directory [default: $BIZRA_HOME, else ~/.bizra]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Global options"
    )]
    data_dir: Option<PathBuf>,
    /// Print the result as one JSON document on stdout (errors too)
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,
    /// Read the key's passphrase from the first line of FILE [default: $BIZRA_PASSPHRASE, else a
    /// prompt]
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    passphrase_file: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace)
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = "Global options")]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the data directory, config.toml and the node's encrypted key
    Init(init::InitArgs),
    /// Show this machine's hardware and the model tiers it can serve
    Detect,
    /// The model registry: list, download, import GGUF files
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Generate an answer, streamed as it comes, signed as a PCI envelope
    Inference(inference::InferenceArgs),
    /// The node's key: show, generate, export, import; sign and verify messages
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// PCI envelopes: create (sign), verify through the gate chain, list the gates
    #[command(subcommand)]
    Pci(pci::PciCommand),
    /// The constitution: its rules and hash, its thresholds, or an envelope's compliance
    Constitution(constitution::ConstitutionArgs),
    /// Serve the HTTP/WebSocket API (and, with --join, a federation node) until Ctrl-C
    Serve(serve::ServeArgs),
    /// Run a federation node in the foreground, printing its membership and decisions
    Join(join::JoinArgs),
    /// Ask a running `bizra serve` for its state
    Status(status::StatusArgs),
    /// The federation node of a running `bizra join` or `bizra serve --join`
    #[command(subcommand)]
    Federation(federation::FederationCommand),
    /// Print a shell completion script
    Completions(completions::CompletionsArgs),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "bizra: internal error (a bug, please report it): {}{at}",
            exit::one_line(&msg)
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(Exit::Usage.code()));
        }
    };
    let out = Output::new(cli.global.json);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli, out))) {
        Ok(Ok(exit)) => exit.into(),
        Ok(Err(e)) if e.exit == Exit::Ok => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("bizra: {e}");
            if out.json() {
                let _ = output::write_json(&mut std::io::stdout(), &e.to_json());
            }
            e.exit.into()
        }
        Err(_) => Exit::Internal.into(),
    }
}

fn run(cli: Cli, out: Output) -> CliResult<Exit> {
    let g = cli.global;
    if let Command::Completions(args) = &cli.command {
        // Needs no configuration: works before `init` and with a broken config.toml.
        return completions::run(args, Cli::command(), out);
    }
    // `init --force` replaces config.toml, so it must get past a broken one.
    let repair = matches!(&cli.command, Command::Init(a) if a.force);
    let ctx = Context::load(g.data_dir.as_deref(), g.passphrase_file, out, repair)?;
    init_logging(g.verbose, ctx.config.log.level.as_deref())?;
    tracing::debug!(data_dir = %ctx.data_dir.display(), "configuration read");
    match cli.command {
        Command::Init(args) => init::run(&ctx, args),
        Command::Detect => commands::detect::run(&ctx),
        Command::Models(c) => models::run(&ctx, c),
        Command::Inference(args) => inference::run(&ctx, args),
        Command::Identity(c) => identity::run(&ctx, c),
        Command::Pci(c) => pci::run(&ctx, c),
        Command::Constitution(args) => constitution::run(&ctx, args),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::Join(args) => join::run(&ctx, args),
        Command::Status(args) => status::run(&ctx, args),
        Command::Federation(c) => federation::run(&ctx, c),
        Command::Completions(_) => Ok(Exit::Ok),
    }
}

/// Logs to stderr: `-v`/`-vv`/`-vvv` win over `[log] level` (default `warn`).
fn init_logging(verbose: u8, level: Option<&str>) -> CliResult {
    let directives = match verbose {
        0 => level.unwrap_or("warn").to_owned(),
        1 => "info".to_owned(),
        2 => "debug".to_owned(),
        _ => "trace".to_owned(),
    };
    let filter = EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| CliError::config(format!("log.level {directives:?}: {e}")))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
