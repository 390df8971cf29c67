//! `bizra models`: the registry of GGUF models (`[models] dir`, default `<data dir>/models`).
//! `loaded` and `unload` ask a running `bizra serve` (a one-shot process has nothing loaded).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bizra::inference::ModelEntry;
use bizra::ModelRegistry;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use sha2::Digest as _;

use super::federation::Remote;
use crate::client::Api;
use crate::context::Context;
use crate::exit::{CliError, CliResult, Exit};
use crate::output::human_bytes;

/// `bizra models ...`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the registered models (and files that are not usable models, with why)
    List,
    /// Download a GGUF model over HTTP(S) into the registry: a progress bar, resumed where a
    /// previous attempt stopped, checked against the hashes given before it is registered
    Download(DownloadArgs),
    /// Copy a GGUF file into the registry (checked, and named after the file)
    Import {
        /// The .gguf file
        file: PathBuf,
    },
    /// The models a running server holds in memory (asks it over HTTP; needs the API token)
    Loaded(Remote),
    /// Release a model a running server loaded from its registry (needs the API token); the
    /// server's configured model ([inference] model) stays
    Unload {
        /// The model's key (see `bizra models list`)
        key: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `bizra models download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The file's URL (http or https)
    url: String,
    /// The model's key in the registry [default: the URL's file name without .gguf]
    #[arg(long, value_name = "KEY")]
    name: Option<String>,
    /// The file's expected SHA-256 (hex); a different file is discarded, exit 1
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// The file's expected BLAKE3 (hex); a different file is discarded, exit 1
    #[arg(long, value_name = "HEX")]
    blake3: Option<String>,
}

/// Runs `bizra models ...`.
pub fn run(ctx: &Context, cmd: ModelsCommand) -> CliResult<Exit> {
    match cmd {
        ModelsCommand::List => list(ctx),
        ModelsCommand::Download(args) => download(ctx, args),
        ModelsCommand::Import { file } => {
            let registry = ModelRegistry::open(ctx.models_dir())?;
            let spinner = spinner(ctx, format!("importing {}", file.display()));
            let entry = registry.import(&file);
            spinner.finish_and_clear();
            let entry = entry?;
            print_entry(ctx, "Imported", &entry)
        }
        ModelsCommand::Loaded(r) => {
            let l = Api::new(ctx, r.url.as_deref())?.get_authorized("inference/models/loaded")?;
            ctx.out.emit(&l, |w| {
                let models = l["loaded"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                if models.is_empty() {
                    return writeln!(w, "no model loaded");
                }
                for m in models {
                    writeln!(
                        w,
                        "{:<40} {:<6} {}{}",
                        m["key"].as_str().unwrap_or("?"),
                        m["tier"].as_str().unwrap_or("?"),
                        m["name"].as_str().unwrap_or("?"),
                        if m["pinned"].as_bool() == Some(true) {
                            "  (configured: [inference] model)"
                        } else {
                            ""
                        }
                    )?;
                }
                Ok(())
            })?;
            Ok(Exit::Ok)
        }
        ModelsCommand::Unload { key, remote } => {
            let r = Api::new(ctx, remote.url.as_deref())?
                .post("inference/models/unload", &json!({ "model": key }))?;
            ctx.out.emit(&r, |w| {
                if r["unloaded"].as_bool() == Some(true) {
                    writeln!(w, "unloaded {key}")
                } else {
                    writeln!(w, "{key} was not loaded")
                }
            })?;
            Ok(Exit::Ok)
        }
    }
}

/// A model entry in `--json` output.
pub fn entry_json(e: &ModelEntry) -> Value {
    let i = &e.info;
    json!({
        "key": e.key,
        "name": i.name,
        "path": i.path,
        "architecture": i.architecture,
        "parameters": i.parameters,
        "quantization": i.quantization,
        "context_length": i.context_length,
        "tier": i.tier.name(),
        "file_size": i.file_size,
        "file_blake3": i.file_blake3,
    })
}

fn print_entry(ctx: &Context, verb: &str, e: &ModelEntry) -> CliResult<Exit> {
    let i = &e.info;
    ctx.out.emit(&entry_json(e), |w| {
        writeln!(w, "{verb} {} ({})", e.key, i.path.display())?;
        writeln!(
            w,
            "  {} · {} · {} parameters · {} · {} tier",
            i.name,
            i.architecture,
            i.parameters,
            i.quantization,
            i.tier.name()
        )?;
        writeln!(
            w,
            "  {} · blake3 {}",
            human_bytes(i.file_size),
            i.file_blake3
        )
    })?;
    Ok(Exit::Ok)
}

fn list(ctx: &Context) -> CliResult<Exit> {
    let dir = ctx.models_dir();
    let (entries, broken) = if dir.is_dir() {
        let registry = ModelRegistry::open(&dir)?;
        let spinner = spinner(ctx, "reading models".into());
        let scanned = registry.scan();
        let listed = registry.list();
        spinner.finish_and_clear();
        let broken: Vec<(PathBuf, String)> = scanned?
            .into_iter()
            .filter_map(|(p, r)| r.err().map(|e| (p, e.to_string())))
            .collect();
        (listed?, broken)
    } else {
        (Vec::new(), Vec::new())
    };
    let value = json!({
        "dir": dir,
        "models": entries.iter().map(entry_json).collect::<Vec<_>>(),
        "unusable": broken.iter().map(|(p, why)| json!({"path": p, "error": why})).collect::<Vec<_>>(),
    });
    ctx.out.emit(&value, |w| {
        if entries.is_empty() {
            writeln!(
                w,
                "No models in {} (bizra models import FILE, or bizra models download URL)",
                dir.display()
            )?;
        } else {
            writeln!(
                w,
                "{:<32} {:>12} {:<8} {:<6} {:>9}  BLAKE3",
                "KEY", "PARAMETERS", "QUANT", "TIER", "SIZE"
            )?;
            for e in &entries {
                let i = &e.info;
                writeln!(
                    w,
                    "{:<32} {:>12} {:<8} {:<6} {:>9}  {}",
                    e.key,
                    i.parameters,
                    i.quantization,
                    i.tier.name(),
                    human_bytes(i.file_size),
                    i.file_blake3.get(..16).unwrap_or(&i.file_blake3)
                )?;
            }
        }
        for (p, why) in &broken {
            writeln!(w, "unusable: {}: {why}", p.display())?;
        }
        Ok(())
    })?;
    Ok(Exit::Ok)
}

fn spinner(ctx: &Context, msg: String) -> ProgressBar {
    if !ctx.out.interactive() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner().with_message(msg);
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// The registry key a URL names: its last path segment without `.gguf`.
fn key_from_url(url: &reqwest::Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let name = last
        .strip_suffix(".gguf")
        .or_else(|| last.strip_suffix(".GGUF"))?;
    (!name.is_empty()).then(|| name.to_owned())
}

fn download(ctx: &Context, args: DownloadArgs) -> CliResult<Exit> {
    let url = reqwest::Url::parse(&args.url)
        .map_err(|e| CliError::usage(format!("{:?} is not a URL: {e}", args.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CliError::usage(format!(
            "{url}: only http and https downloads are supported"
        )));
    }
    let key = match args.name.clone().or_else(|| key_from_url(&url)) {
        Some(k) => k,
        None => {
            return Err(CliError::usage(format!(
                "{url} does not end in a .gguf file name: name the model with --name KEY"
            )))
        }
    };
    let sha256 = args
        .sha256
        .as_deref()
        .map(|h| super::parse_hex::<32>(h, "--sha256"))
        .transpose()?;
    let blake3 = args
        .blake3
        .as_deref()
        .map(|h| super::parse_hex::<32>(h, "--blake3"))
        .transpose()?;
    let registry = ModelRegistry::open(ctx.models_dir())?;
    let dest = registry.path_for(&key)?;
    if dest.exists() {
        return Err(CliError::new(
            Exit::Io,
            format!(
                "a model named {key:?} is already registered ({}): pick another --name",
                dest.display()
            ),
        ));
    }
    let part = registry.dir().join(format!(".{key}.gguf.part"));
    let source = registry.dir().join(format!(".{key}.gguf.part.url"));
    // A partial file is resumed only for the same URL.
    match fs::read_to_string(&source) {
        Ok(u) if u == url.as_str() => {}
        _ => {
            let _ = fs::remove_file(&part);
            fs::write(&source, url.as_str()).map_err(|e| CliError::io(&source, e))?;
        }
    }
    let discard = || {
        let _ = fs::remove_file(&part);
        let _ = fs::remove_file(&source);
    };

    let total = fetch(ctx, &url, &part)?;
    tracing::info!(bytes = total, path = %part.display(), "transfer complete");
    let (got_sha, got_blake) = hash_file(&part, sha256.is_some())?;
    let mut mismatches = Vec::new();
    if let (Some(want), Some(got)) = (sha256, got_sha) {
        if want != got {
            mismatches.push(format!(
                "sha256 is {}, expected {}",
                super::hex(&got),
                super::hex(&want)
            ));
        }
    }
    if let Some(want) = blake3 {
        if want != got_blake {
            mismatches.push(format!(
                "blake3 is {}, expected {}",
                super::hex(&got_blake),
                super::hex(&want)
            ));
        }
    }
    if !mismatches.is_empty() {
        discard();
        return Err(CliError::refused(format!(
            "{url}: the downloaded file's {}; it was discarded, nothing was registered",
            mismatches.join(", and its ")
        )));
    }
    let entry = match registry.adopt(&part, &key) {
        Ok(e) => e,
        Err(e) => {
            if e.kind() == bizra::ErrorKind::Model {
                discard();
            }
            return Err(CliError::from(e).context(format!("{url}")));
        }
    };
    let _ = fs::remove_file(&source);
    print_entry(ctx, "Downloaded", &entry)
}

/// SHA-256 (when asked for) and BLAKE3 of a file, in one read.
fn hash_file(path: &Path, sha: bool) -> CliResult<(Option<[u8; 32]>, [u8; 32])> {
    let mut f = fs::File::open(path).map_err(|e| CliError::io(path, e))?;
    let mut s = sha.then(sha2::Sha256::new);
    let mut b = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| CliError::io(path, e))?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        if let Some(s) = s.as_mut() {
            s.update(chunk);
        }
        b.update(chunk);
    }
    Ok((s.map(|s| s.finalize().into()), *b.finalize().as_bytes()))
}

/// Transfers `url` into `part`, resuming after the bytes already there (HTTP Range). Returns
/// the file's size once complete; a transfer cut off leaves what arrived for the next attempt.
fn fetch(ctx: &Context, url: &reqwest::Url, part: &Path) -> CliResult<u64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(Exit::Internal, format!("starting the HTTP runtime: {e}")))?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("bizra/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| CliError::network(format!("HTTP client: {e}")))?;
    rt.block_on(fetch_async(ctx, &client, url, part))
}

async fn fetch_async(
    ctx: &Context,
    client: &reqwest::Client,
    url: &reqwest::Url,
    part: &Path,
) -> CliResult<u64> {
    use reqwest::header::{CONTENT_RANGE, RANGE};
    use reqwest::StatusCode;

    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = client.get(url.clone());
    if have > 0 {
        req = req.header(RANGE, format!("bytes={have}-"));
    }
    let net = |e: reqwest::Error| CliError::network(format!("{url}: {e}"));
    let mut resp = req.send().await.map_err(net)?;
    let status = resp.status();
    let content_range = resp
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (start, total) = match status {
        StatusCode::PARTIAL_CONTENT if have > 0 => {
            let (first, total) = content_range
                .as_deref()
                .and_then(parse_content_range)
                .ok_or_else(|| {
                    CliError::network(format!(
                        "{url}: a partial answer without a usable Content-Range ({content_range:?})"
                    ))
                })?;
            if first != have {
                return Err(CliError::network(format!(
                    "{url}: asked to resume at byte {have}, the server sent from byte {first}"
                )));
            }
            ctx.out
                .note(&format!("resuming {url} at {}", human_bytes(have)));
            (have, total)
        }
        StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
            // Already whole, when the server's size is what we have.
            let size = content_range
                .as_deref()
                .and_then(|c| c.strip_prefix("bytes */"))
                .and_then(|n| n.parse::<u64>().ok());
            if size == Some(have) {
                return Ok(have);
            }
            let _ = fs::remove_file(part);
            return Err(CliError::network(format!(
                "{url}: the server refused to resume (416); the partial file was removed, run the \
                 command again to start over"
            )));
        }
        s if s.is_success() => {
            if have > 0 {
                ctx.out
                    .note(&format!("{url}: the server does not resume; starting over"));
            }
            (0, resp.content_length())
        }
        s => {
            return Err(CliError::network(format!("{url}: HTTP {s}")));
        }
    };
    let mut file = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(start > 0)
        .truncate(start == 0)
        .open(part)
        .map_err(|e| CliError::io(part, e))?;
    let pb = if ctx.out.interactive() {
        let pb = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::no_length(),
        };
        pb.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_message(
            url.path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or("")
                .to_owned(),
        );
        pb.set_position(start);
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut written = start;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                file.write_all(&chunk).map_err(|e| CliError::io(part, e))?;
                written += chunk.len() as u64;
                pb.set_position(written);
            }
            Ok(None) => break,
            Err(e) => {
                pb.abandon();
                let _ = file.sync_all();
                return Err(CliError::network(format!(
                    "{url}: the transfer stopped at {} ({e}); run the same command again to resume",
                    human_bytes(written)
                )));
            }
        }
    }
    pb.finish_and_clear();
    file.sync_all().map_err(|e| CliError::io(part, e))?;
    if let Some(t) = total {
        if written != t {
            return Err(CliError::network(format!(
                "{url}: the transfer stopped at {written} of {t} bytes; run the same command again \
                 to resume"
            )));
        }
    }
    Ok(written)
}

/// `bytes FIRST-LAST/TOTAL` → (FIRST, Some(TOTAL)); `*` as the total → None.
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, _last) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first.trim().parse().ok()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_and_keys() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes */200"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(
            key_from_url(&u("https://h/x/SmolLM2.Q4_1.gguf?download=1")).as_deref(),
            Some("SmolLM2.Q4_1")
        );
        assert_eq!(key_from_url(&u("https://h/x/model.bin")), None);
        assert_eq!(key_from_url(&u("https://h/.gguf")), None);
    }
}
