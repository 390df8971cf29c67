//! The data directory and `config.toml`.
//!
//! The data directory is `--data-dir`, else `$BIZRA_HOME`, else `~/.bizra`. `config.toml` in it
//! is written by `bizra init` and read by every command; a missing file means the defaults. Every
//! key can be overridden from the environment as `BIZRA_<SECTION>_<KEY>` (for example
//! `BIZRA_INFERENCE_MODEL`); an unknown key, in the file or in such a variable, is an error that
//! names it. Relative paths in the file are relative to the data directory.
//!
//! A section added for another command (`[server]`, `[federation]`) is a struct here, a field of
//! [`Config`], and its keys in [`KEYS`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit::{CliError, CliResult};

/// The file name of the configuration in the data directory.
pub const CONFIG_FILE: &str = "config.toml";

/// The whole configuration. Every field has a default, so an empty file is valid.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[node]`: the node's identity.
    pub node: NodeConfig,
    /// `[models]`: the model registry.
    pub models: ModelsConfig,
    /// `[inference]`: defaults of `bizra inference`.
    pub inference: InferenceConfig,
    /// `[policy]`: the constitution.
    pub policy: PolicyConfig,
    /// `[log]`: logging to stderr.
    pub log: LogConfig,
    /// `[server]`: `bizra serve`, and where the other commands reach it.
    pub server: ServerSection,
    /// `[federation]`: the node `bizra join` (and `bizra serve --join`) runs.
    pub federation: FederationSection,
}

/// `[server]`: each key unset keeps `bizra_server::ServerConfig`'s default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Where `bizra serve` listens (default 127.0.0.1:3001).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Where `bizra status` and `bizra federation ...` reach a running server (default
    /// `http://` + `bind`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The bearer token of the protected endpoints. Prefer `token_file` (or the environment):
    /// this file is not secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A file holding the bearer token (its first line; `bizra init` writes `api.token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Origins allowed by CORS (`*`: any; unset: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_origins: Option<Vec<String>>,
    /// Largest request body, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_limit: Option<u32>,
    /// Requests per second per client (0: no rate limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<u32>,
    /// Requests a client may make at once before being limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_burst: Option<u32>,
    /// Seconds in-flight generations may run on after a shutdown is asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_secs: Option<u32>,
}

/// `[federation]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSection {
    /// The federation's name (default `bizra`; a federation document names its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The UDP address the node's gossip binds (default 0.0.0.0:7946).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Members to contact first (`host:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Vec<String>>,
    /// A federation document (JSON): with it the node takes part in consensus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<PathBuf>,
}

/// `[node]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// The encrypted PKCS#8 key file (default `node.key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

/// `[models]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// The registry's directory of GGUF files (default `models`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
}

/// `[inference]`: each key unset keeps the library's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferenceConfig {
    /// The model: a registry key, or a path to a GGUF file. Unset: the registry's model for
    /// the tier the prompt needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A system message for chat prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Most tokens generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature (0: greedy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Sampling seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
    /// CPU threads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Context window, in tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<u32>,
    /// Layers offloaded to a GPU (builds with CUDA only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_layers: Option<u32>,
    /// Requests that may wait behind the one a model is serving (`bizra serve` takes many at
    /// once); one more is refused at once (exit 6, HTTP 503 `busy`). At most 65536; 0: refused
    /// whenever the model is busy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_queued: Option<u32>,
}

/// `[policy]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// A constitution file (JSON) instead of the embedded default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constitution: Option<PathBuf>,
}

/// `[log]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn` (default), `info`, `debug`, `trace`, or tracing directives
    /// (`bizra=debug,warn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// The type of a key, for reading its environment override.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string or a path.
    Str,
    /// A non-negative integer.
    Int,
    /// A number.
    Float,
    /// A list of strings (comma-separated in the environment).
    List,
}

/// Every key of `config.toml`: section, key, type. `BIZRA_<SECTION>_<KEY>` overrides it.
pub const KEYS: &[(&str, &str, Kind)] = &[
    ("node", "key_file", Kind::Str),
    ("models", "dir", Kind::Str),
    ("inference", "model", Kind::Str),
    ("inference", "system", Kind::Str),
    ("inference", "max_tokens", Kind::Int),
    ("inference", "temperature", Kind::Float),
    ("inference", "seed", Kind::Int),
    ("inference", "threads", Kind::Int),
    ("inference", "context", Kind::Int),
    ("inference", "gpu_layers", Kind::Int),
    ("inference", "max_queued", Kind::Int),
    ("policy", "constitution", Kind::Str),
    ("log", "level", Kind::Str),
    ("server", "bind", Kind::Str),
    ("server", "url", Kind::Str),
    ("server", "token", Kind::Str),
    ("server", "token_file", Kind::Str),
    ("server", "cors_origins", Kind::List),
    ("server", "body_limit", Kind::Int),
    ("server", "rate_per_second", Kind::Int),
    ("server", "rate_burst", Kind::Int),
    ("server", "shutdown_grace_secs", Kind::Int),
    ("federation", "name", Kind::Str),
    ("federation", "bind", Kind::Str),
    ("federation", "seeds", Kind::List),
    ("federation", "document", Kind::Str),
];

/// The environment variable that overrides `section.key`.
pub fn env_name(section: &str, key: &str) -> String {
    format!("BIZRA_{}_{}", section, key).to_ascii_uppercase()
}

/// The data directory: `--data-dir`, else `$BIZRA_HOME`, else `$HOME/.bizra`.
pub fn data_dir(flag: Option<&Path>) -> CliResult<PathBuf> {
    if let Some(d) = flag {
        return Ok(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os("BIZRA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".bizra"))
        .ok_or_else(|| {
            CliError::config(
                "no data directory: HOME is not set; set BIZRA_HOME or pass --data-dir",
            )
        })
}

/// Reads `<data_dir>/config.toml` (the defaults when it does not exist) with the environment's
/// overrides.
pub fn load(data_dir: &Path) -> CliResult<Config> {
    let path = data_dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::io(&path, e).context("reading the configuration")),
    };
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("BIZRA_"))
        .collect();
    parse(text.as_deref().unwrap_or(""), &path, &env)
}

/// Parses configuration text (from `path`, for messages) with overrides from `env`.
pub fn parse(text: &str, path: &Path, env: &BTreeMap<String, String>) -> CliResult<Config> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|s| format!(" line {}", line_of(text, s.start)))
            .unwrap_or_default();
        CliError::config(format!(
            "{}{at}: {}",
            path.display(),
            crate::exit::one_line(e.message())
        ))
    })?;
    let mut from_env: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in env {
        let Some((section, key, kind)) = override_target(name)? else {
            continue;
        };
        let v = parse_override(name, value, kind)?;
        let sec = table
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match sec {
            toml::Value::Table(t) => {
                t.insert(key.to_owned(), v);
            }
            _ => {
                return Err(CliError::config(format!(
                    "{}: `{section}` must be a table ([{section}])",
                    path.display()
                )))
            }
        }
        from_env.insert(format!("{section}.{key}"), name.clone());
    }
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.inner().message().to_owned();
        // An unknown key's path ends with it; a top-level one is a section.
        let inner = if !key.contains('.') && inner.starts_with("unknown field") {
            inner.replacen("unknown field", "unknown section", 1)
        } else {
            inner
        };
        let whence = match from_env.get(&key) {
            Some(var) => format!("environment variable {var}"),
            None if key == "." || key.is_empty() => path.display().to_string(),
            None => format!("{}: key `{key}`", path.display()),
        };
        CliError::config(format!("{whence}: {}", crate::exit::one_line(&inner)))
    })
}

/// The key a `BIZRA_*` variable overrides: `None` for variables that name no section (other
/// settings, such as `BIZRA_HOME`); an error for one that names a section but none of its keys.
fn override_target(name: &str) -> CliResult<Option<(&'static str, &'static str, Kind)>> {
    if let Some(&(s, k, kind)) = KEYS.iter().find(|(s, k, _)| env_name(s, k) == name) {
        return Ok(Some((s, k, kind)));
    }
    let mut sections: Vec<&str> = KEYS.iter().map(|(s, _, _)| *s).collect();
    sections.dedup();
    for s in sections {
        let prefix = format!("BIZRA_{}_", s.to_ascii_uppercase());
        if name.starts_with(&prefix) {
            let known: Vec<String> = KEYS
                .iter()
                .filter(|(sec, _, _)| *sec == s)
                .map(|(sec, k, _)| env_name(sec, k))
                .collect();
            return Err(CliError::config(format!(
                "environment variable {name} names no key of [{s}]; known: {}",
                known.join(", ")
            )));
        }
    }
    Ok(None)
}

fn parse_override(name: &str, value: &str, kind: Kind) -> CliResult<toml::Value> {
    let bad = |what: &str| {
        CliError::config(format!(
            "environment variable {name}: {value:?} is not {what}"
        ))
    };
    Ok(match kind {
        Kind::Str => toml::Value::String(value.to_owned()),
        Kind::Int => toml::Value::Integer(
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| bad("a non-negative integer"))?
                .into(),
        ),
        Kind::Float => toml::Value::Float(
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| bad("a number"))?,
        ),
        Kind::List => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| toml::Value::String(v.to_owned()))
                .collect(),
        ),
    })
}

fn line_of(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(1, |t| t.matches('\n').count() + 1)
}

impl Config {
    /// The key file.
    pub fn key_file(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(
            self.node
                .key_file
                .as_deref()
                .unwrap_or(Path::new("node.key")),
        )
    }

    /// The models directory.
    pub fn models_dir(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(self.models.dir.as_deref().unwrap_or(Path::new("models")))
    }

    /// The server's bearer token: `[server] token` (or `BIZRA_SERVER_TOKEN`; empty means unset),
    /// else the first line of `token_file` (relative to the data directory); `None` when neither
    /// is set. A configured file that
    /// cannot be read is an error, not "no token".
    pub fn server_token(&self, data_dir: &Path) -> CliResult<Option<String>> {
        if let Some(t) = self
            .server
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            return Ok(Some(t.to_owned()));
        }
        let Some(file) = &self.server.token_file else {
            return Ok(None);
        };
        let path = data_dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::io(&path, e).context("reading server.token_file"))?;
        let token = text.lines().next().unwrap_or("").trim().to_owned();
        if token.is_empty() {
            return Err(CliError::config(format!(
                "server.token_file {}: the file is empty",
                path.display()
            )));
        }
        Ok(Some(token))
    }

    /// Where the server listens: `[server] bind`, else 127.0.0.1:3001.
    pub fn server_bind(&self) -> CliResult<std::net::SocketAddr> {
        match &self.server.bind {
            None => Ok(bizra_server::DEFAULT_BIND),
            Some(b) => b.parse().map_err(|e| {
                CliError::config(format!("server.bind {b:?} is not an address ({e})"))
            }),
        }
    }

    /// Where a running server is reached: `[server] url`, else `http://` + the bind address
    /// (a wildcard address is reached on loopback).
    pub fn server_url(&self) -> CliResult<String> {
        if let Some(u) = &self.server.url {
            return Ok(u.trim_end_matches('/').to_owned());
        }
        let mut addr = self.server_bind()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(format!("http://{addr}"))
    }

    /// The constitution file, when one is configured.
    pub fn constitution_file(&self, data_dir: &Path) -> Option<PathBuf> {
        self.policy
            .constitution
            .as_deref()
            .map(|p| data_dir.join(p))
    }
}

/// The `config.toml` that `bizra init` writes: every key, commented where it keeps its default.
pub fn template(model: Option<&str>) -> String {
    let model_line = match model {
        Some(m) => format!("model = {}", toml::Value::String(m.to_owned())),
        None => {
            "# model = \"SmolLM2-135M-Instruct.Q4_1\"   # a registry key, or a path to a .gguf file"
                .into()
        }
    };
    format!(
        r#"# bizra configuration, read by every `bizra` command.
# Every key can be overridden from the environment as BIZRA_<SECTION>_<KEY>
# (for example BIZRA_INFERENCE_MODEL). Relative paths are relative to this directory.

[node]
# The node's key: encrypted PKCS#8 (PEM). Its passphrase comes from a prompt,
# --passphrase-file FILE, or BIZRA_PASSPHRASE; it is never stored here.
key_file = "node.key"

[models]
# The model registry: GGUF files (`bizra models list|import|download`).
dir = "models"

[inference]
{model_line}
# system = "You are a concise assistant."
# max_tokens = 256
# temperature = 0.8                 # 0: greedy (deterministic)
# seed = 42
# threads = 4                       # default: the physical cores
# context = 2048
# gpu_layers = 0                    # builds with CUDA only
# max_queued = 32                   # requests waiting behind the running one; more: busy

[policy]
# A constitution file (JSON) instead of the embedded default (`bizra constitution`).
# constitution = "constitution.json"

[log]
# error, warn, info, debug, trace (or tracing directives); -v raises it.
level = "warn"

[server]
# `bizra serve`: the HTTP API. The bearer token of the endpoints that sign or spend
# compute is read from token_file (written by `bizra init`) or BIZRA_SERVER_TOKEN;
# without one those endpoints refuse every request.
# bind = "127.0.0.1:3001"
token_file = "api.token"
# url = "http://127.0.0.1:3001"       # where `bizra status` reaches a running server
# cors_origins = ["http://localhost:5173"]
# body_limit = 2097152
# rate_per_second = 20                # 0: no rate limit
# rate_burst = 60
# shutdown_grace_secs = 10

[federation]
# `bizra join` (and `bizra serve --join`): SWIM membership over UDP, and consensus
# when a federation document is given.
# name = "bizra"
# bind = "0.0.0.0:7946"
# seeds = ["10.0.0.2:7946"]
# document = "federation.json"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn err(text: &str, e: &[(&str, &str)]) -> String {
        parse(text, Path::new("c.toml"), &env(e))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_template_parses_to_the_defaults_but_its_paths() {
        let c = parse(&template(None), Path::new("c.toml"), &env(&[])).unwrap();
        assert_eq!(c.node.key_file.as_deref(), Some(Path::new("node.key")));
        assert_eq!(c.inference, InferenceConfig::default());
        let c = parse(&template(Some("m\"x")), Path::new("c.toml"), &env(&[])).unwrap();
        assert_eq!(c.inference.model.as_deref(), Some("m\"x"));
        assert_eq!(
            parse("", Path::new("c.toml"), &env(&[])).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err("[inference]\nmodle = \"x\"\n", &[]);
        assert!(
            e.contains("key `inference.modle`: unknown field `modle`"),
            "{e}"
        );
        let e = err("[inferense]\n", &[]);
        assert!(
            e.contains("unknown section") && e.contains("inferense"),
            "{e}"
        );
        let e = err("[inference]\nmax_tokens = \"many\"\n", &[]);
        assert!(e.contains("inference.max_tokens"), "{e}");
        let e = err("[inference\n", &[]);
        assert!(e.contains("c.toml line 1"), "{e}");
    }

    #[test]
    fn the_environment_overrides_and_is_checked() {
        let c = parse(
            "[inference]\nmodel = \"a\"\nmax_tokens = 3\n",
            Path::new("c.toml"),
            &env(&[
                ("BIZRA_INFERENCE_MODEL", "b"),
                ("BIZRA_INFERENCE_TEMPERATURE", "0"),
                ("BIZRA_HOME", "/elsewhere"),
            ]),
        )
        .unwrap();
        assert_eq!(c.inference.model.as_deref(), Some("b"));
        assert_eq!(c.inference.max_tokens, Some(3));
        assert_eq!(c.inference.temperature, Some(0.0));
        let e = err("", &[("BIZRA_INFERENCE_MODLE", "x")]);
        assert!(e.contains("BIZRA_INFERENCE_MODLE") && e.contains("BIZRA_INFERENCE_MODEL"));
        let e = err("", &[("BIZRA_INFERENCE_MAX_TOKENS", "lots")]);
        assert!(e.contains("BIZRA_INFERENCE_MAX_TOKENS"), "{e}");
    }

    #[test]
    fn every_key_has_its_override() {
        let full = Config {
            node: NodeConfig {
                key_file: Some("k".into()),
            },
            models: ModelsConfig {
                dir: Some("m".into()),
            },
            inference: InferenceConfig {
                model: Some("m".into()),
                system: Some("s".into()),
                max_tokens: Some(1),
                temperature: Some(0.5),
                seed: Some(1),
                threads: Some(1),
                context: Some(1),
                gpu_layers: Some(1),
                max_queued: Some(1),
            },
            policy: PolicyConfig {
                constitution: Some("c".into()),
            },
            log: LogConfig {
                level: Some("warn".into()),
            },
            server: ServerSection {
                bind: Some("b".into()),
                url: Some("u".into()),
                token: Some("t".into()),
                token_file: Some("f".into()),
                cors_origins: Some(vec!["o".into()]),
                body_limit: Some(1),
                rate_per_second: Some(1),
                rate_burst: Some(1),
                shutdown_grace_secs: Some(1),
            },
            federation: FederationSection {
                name: Some("n".into()),
                bind: Some("b".into()),
                seeds: Some(vec!["s".into()]),
                document: Some("d".into()),
            },
        };
        let table = toml::Table::try_from(&full).unwrap();
        let mut keys: Vec<(String, String)> = table
            .iter()
            .flat_map(|(s, t)| {
                t.as_table()
                    .unwrap()
                    .keys()
                    .map(|k| (s.clone(), k.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        keys.sort();
        let mut listed: Vec<(String, String)> = KEYS
            .iter()
            .map(|(s, k, _)| ((*s).to_owned(), (*k).to_owned()))
            .collect();
        listed.sort();
        assert_eq!(keys, listed);
        // Each override deserializes into its key.
        for (s, k, kind) in KEYS {
            let v = match kind {
                Kind::Str => "x",
                Kind::Int => "7",
                Kind::Float => "0.5",
                Kind::List => "a, b",
            };
            parse("", Path::new("c.toml"), &env(&[(&env_name(s, k), v)])).unwrap();
        }
    }
}
