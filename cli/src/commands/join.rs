//! `bizra join`: a federation node in the foreground. It joins through the seeds (SWIM over
//! authenticated UDP datagrams), takes part in consensus when given a federation document, and
//! prints each membership change and each decision as it happens (a JSON line each with
//! `--json`). Unless `--no-api`, it also serves the HTTP API (as `bizra serve --join` does), so
//! that `bizra federation status|peers|propose|leave` reach it. Ctrl-C, SIGTERM or
//! `bizra federation leave` make it leave gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use bizra::{ConsensusEvent, Node};
use clap::Args;
use serde_json::json;

use super::serve::{self, NodeArgs};
use crate::context::Context;
use crate::exit::{CliResult, Exit};
use crate::output::Output;

/// `bizra join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Members to join through, host:port (replace [federation] seeds)
    #[arg(value_name = "SEED")]
    pub seeds: Vec<String>,
    #[command(flatten)]
    pub node: NodeArgs,
    /// Where the API listens instead of [server] bind
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Run the node without the HTTP API (then only a signal stops it)
    #[arg(long)]
    pub no_api: bool,
}

/// Runs `bizra join`.
pub fn run(ctx: &Context, mut args: JoinArgs) -> CliResult<Exit> {
    args.node.seeds.extend(std::mem::take(&mut args.seeds));
    let (identity, passphrase) = ctx.unlock()?;
    let identity = Arc::new(identity);
    let node = Arc::new(serve::start_node(ctx, &args.node, identity.clone())?);
    ctx.out.line(
        &json!({
            "event": "ready",
            "node_id": node.node_id(),
            "addr": node.advertised_addr().to_string(),
            "generation": node.generation(),
            "consensus": node.federation_document().is_some(),
        }),
        &format!(
            "joined as {} at {} (generation {}){}",
            node.node_id(),
            node.advertised_addr(),
            node.generation(),
            if node.federation_document().is_some() {
                ", taking part in consensus"
            } else {
                ""
            }
        ),
    );
    print_events(ctx.out, &node);
    if args.no_api {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::exit::CliError::new(Exit::Internal, format!("runtime: {e}")))?;
        rt.block_on(serve::shutdown_signal());
        drop(node);
        return Ok(Exit::Ok);
    }
    serve::serve(
        ctx,
        args.bind,
        identity,
        passphrase.to_string(),
        Some(node),
        serve::OnLeave::Stop,
    )
}

/// Prints the node's membership events and decisions from threads of their own (they end with
/// the node).
fn print_events(out: Output, node: &Node) {
    let members = node.subscribe();
    std::thread::spawn(move || {
        for e in members {
            let m = &e.member;
            out.line(
                &json!({
                    "event": e.kind.name(),
                    "node_id": m.node_id,
                    "state": m.state.name(),
                    "addr": m.addr.to_string(),
                    "generation": m.generation,
                }),
                &format!(
                    "{:<8} {} {} ({})",
                    e.kind.name(),
                    m.node_id,
                    m.addr,
                    m.state.name()
                ),
            );
        }
    });
    let decisions = node.consensus_events();
    std::thread::spawn(move || {
        for e in decisions {
            match e {
                ConsensusEvent::Decided { certificate, batch } => out.line(
                    &json!({
                        "event": "decided",
                        "height": certificate.height(),
                        "round": certificate.round(),
                        "value": certificate.value().to_hex(),
                        "proposals": batch.envelopes().len(),
                    }),
                    &format!(
                        "decided  height {} round {}: {} proposal(s)",
                        certificate.height(),
                        certificate.round(),
                        batch.envelopes().len()
                    ),
                ),
                ConsensusEvent::Evidence(e) => out.line(
                    &json!({
                        "event": "evidence",
                        "validator": e.validator,
                        "height": e.height,
                        "round": e.round,
                        "kind": format!("{:?}", e.kind),
                    }),
                    &format!(
                        "evidence validator {} equivocated at height {} round {}",
                        e.validator, e.height, e.round
                    ),
                ),
            }
        }
    });
}
