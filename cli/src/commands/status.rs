//! `bizra status`: asks a running `bizra serve` (or `bizra join`) over HTTP.

use clap::Args;

use crate::client::Api;
use crate::context::Context;
use crate::exit::{CliResult, Exit};

/// `bizra status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The server's URL instead of [server] url (e.g. http://127.0.0.1:3001)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// Runs `bizra status`.
pub fn run(ctx: &Context, args: StatusArgs) -> CliResult<Exit> {
    let s = Api::new(ctx, args.url.as_deref())?.get("status")?;
    ctx.out.emit(&s, |w| {
        writeln!(w, "node        {}", s["node_id"].as_str().unwrap_or("?"))?;
        writeln!(w, "version     {}", s["version"].as_str().unwrap_or("?"))?;
        writeln!(
            w,
            "uptime      {:.0} s",
            s["uptime_seconds"].as_f64().unwrap_or(0.0)
        )?;
        let loaded: Vec<&str> = s["models_loaded"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m.as_str()).collect())
            .unwrap_or_default();
        writeln!(
            w,
            "inference   {} ({} model(s) registered; loaded: {})",
            if s["inference"].as_bool() == Some(true) {
                "served"
            } else {
                "not served"
            },
            s["models_registered"].as_u64().unwrap_or(0),
            if loaded.is_empty() {
                "none".to_owned()
            } else {
                loaded.join(", ")
            }
        )?;
        writeln!(
            w,
            "generating  {}",
            s["generations_in_flight"].as_u64().unwrap_or(0)
        )?;
        writeln!(
            w,
            "policy      constitution {}",
            s["constitution_hash"].as_str().unwrap_or("?")
        )?;
        writeln!(
            w,
            "federation  {}",
            super::federation::summary(&s["federation"])
        )
    })?;
    Ok(Exit::Ok)
}
