//! `bizra federation status|peers|propose|leave`: the federation node of a running `bizra join`
//! (or `bizra serve --join`), over its HTTP API.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::Api;
use crate::context::Context;
use crate::exit::{CliError, CliResult, Exit};

/// `bizra federation`.
#[derive(Debug, Subcommand)]
pub enum FederationCommand {
    /// The node's membership and consensus state
    Status(Remote),
    /// The members the node knows, with their states
    Peers(Remote),
    /// Submit a bizra.proposal to consensus: a signed envelope (FILE or - for stdin), or
    /// --payload for the node to sign
    Propose(ProposeArgs),
    /// Make the node leave the federation gracefully (needs the API token): `bizra join` then
    /// exits 0; `bizra serve --join` keeps serving the API without a federation
    Leave(Remote),
}

/// Where the server is.
#[derive(Debug, Args)]
pub struct Remote {
    /// The server's URL instead of [server] url
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// `bizra federation propose`.
#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// A signed bizra.proposal envelope (JSON); - or nothing: stdin
    #[arg(value_name = "FILE", conflicts_with = "payload")]
    pub file: Option<PathBuf>,
    /// A bizra.proposal payload (JSON text) for the node to sign with its key
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,
    /// The SNR the node's signed proposal asserts
    #[arg(long, requires = "payload")]
    pub snr: Option<f64>,
    /// The Ihsan score the node's signed proposal asserts
    #[arg(long, requires = "payload")]
    pub ihsan: Option<f64>,
    #[command(flatten)]
    pub remote: Remote,
}

/// Runs `bizra federation ...`.
pub fn run(ctx: &Context, command: FederationCommand) -> CliResult<Exit> {
    match command {
        FederationCommand::Status(r) => {
            let s = Api::new(ctx, r.url.as_deref())?.get("federation/status")?;
            ctx.out.emit(&s, |w| {
                writeln!(
                    w,
                    "node        {} at {} (generation {})",
                    s["node_id"].as_str().unwrap_or("?"),
                    s["addr"].as_str().unwrap_or("?"),
                    s["generation"]
                )?;
                let m = &s["members"];
                writeln!(
                    w,
                    "members     {} ({} alive, {} suspect, {} down, {} left)",
                    s["membership_size"], m["alive"], m["suspect"], m["down"], m["left"]
                )?;
                match s["consensus"].as_object() {
                    None => writeln!(w, "consensus   not taking part (no federation document)"),
                    Some(c) => writeln!(
                        w,
                        "consensus   height {} round {}, {} decided, {} pending, {} validator(s) linked{}",
                        c["height"],
                        c["round"],
                        c["decided"],
                        c["pending"],
                        c["linked"],
                        if c["validator"].as_bool() == Some(true) { ", a validator" } else { ", a follower" }
                    ),
                }
            })?;
        }
        FederationCommand::Peers(r) => {
            let p = Api::new(ctx, r.url.as_deref())?.get("federation/peers")?;
            ctx.out.emit(&p, |w| {
                for peer in p["peers"].as_array().into_iter().flatten() {
                    writeln!(
                        w,
                        "{:<34} {:<8} {}",
                        peer["node_id"].as_str().unwrap_or("?"),
                        peer["state"].as_str().unwrap_or("?"),
                        peer["addr"].as_str().unwrap_or("?"),
                    )?;
                }
                Ok(())
            })?;
        }
        FederationCommand::Propose(a) => {
            let body = match &a.payload {
                Some(text) => {
                    let payload: Value = serde_json::from_str(text)
                        .map_err(|e| CliError::usage(format!("--payload is not JSON: {e}")))?;
                    json!({"payload": payload, "snr": a.snr, "ihsan": a.ihsan})
                }
                None => {
                    let text = super::read_text(a.file.as_deref(), "the proposal envelope")?;
                    json!({"envelope": text.trim()})
                }
            };
            let r = Api::new(ctx, a.remote.url.as_deref())?.post("federation/propose", &body)?;
            ctx.out.emit(&r, |w| {
                writeln!(
                    w,
                    "{} {}",
                    if r["accepted"].as_bool() == Some(true) {
                        "proposed"
                    } else {
                        "already pooled"
                    },
                    r["envelope_id"].as_str().unwrap_or("?")
                )
            })?;
        }
        FederationCommand::Leave(r) => {
            let l = Api::new(ctx, r.url.as_deref())?.post("federation/leave", &json!({}))?;
            ctx.out.emit(&l, |w| {
                let id = l["node_id"].as_str().unwrap_or("?");
                if l["left"].as_bool() == Some(true) {
                    writeln!(w, "{id} left the federation")
                } else {
                    writeln!(
                        w,
                        "{id} was detached from the API; it leaves when its application drops it"
                    )
                }
            })?;
        }
    }
    Ok(Exit::Ok)
}

/// One line about `[status].federation`.
pub fn summary(f: &Value) -> String {
    if f["running"].as_bool() != Some(true) {
        return "not running".into();
    }
    let height = match f["consensus_height"].as_u64() {
        Some(h) => format!(", consensus height {h}"),
        None => String::new(),
    };
    format!("{} member(s){height}", f["membership_size"])
}
