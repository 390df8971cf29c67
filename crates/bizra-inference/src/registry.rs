//! A directory of GGUF models: list (with metadata and BLAKE3), import, load and unload, and the
//! engine for a tier (which [`crate::Gateway`] routes requests to).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::engine::{Engine, EngineOptions};
use crate::ModelInfo;
use bizra_protocol::tier::ModelTier;
use bizra_protocol::{Error, Result};

/// The tier a model of `parameters` weights serves: Edge up to 3 B, Local up to 34 B, Pool
/// above. The bounds sit between the nominal ranges of [`ModelTier::parameter_range_billions`],
/// so that smaller-than-nominal models (SmolLM2-135M is the default Edge model) still have a tier.
pub fn tier_for_parameters(parameters: u64) -> ModelTier {
    const B: u64 = 1_000_000_000;
    if parameters <= 3 * B {
        ModelTier::Edge
    } else if parameters <= 34 * B {
        ModelTier::Local
    } else {
        ModelTier::Pool
    }
}

/// A model in the registry.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEntry {
    /// Its key: the file name without `.gguf`.
    pub key: String,
    /// What the file is.
    pub info: ModelInfo,
}

type HashCacheKey = (PathBuf, u64, Option<SystemTime>);

/// A models directory. `Send + Sync`: loaded engines are shared, each with its own worker thread.
#[derive(Debug)]
pub struct ModelRegistry {
    dir: PathBuf,
    options: EngineOptions,
    /// Header and hash per (path, size, mtime): hashing a model file is not free.
    infos: Mutex<HashMap<HashCacheKey, ModelInfo>>,
    loaded: Mutex<BTreeMap<String, Engine>>,
}

fn lock_err<T>(_: T) -> Error {
    Error::Inference("registry lock poisoned".into())
}

impl ModelRegistry {
    /// Opens (creating it if needed) a models directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self {
            dir,
            options: EngineOptions::default(),
            infos: Mutex::new(HashMap::new()),
            loaded: Mutex::new(BTreeMap::new()),
        })
    }

    /// `$BIZRA_CACHE/models`, else `$HOME/.cache/bizra/models`, where `make model` puts the
    /// default Edge model.
    pub fn default_dir() -> PathBuf {
        let cache = std::env::var_os("BIZRA_CACHE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("bizra"))
            })
            .unwrap_or_else(|| PathBuf::from(".bizra-cache"));
        cache.join("models")
    }

    /// Options for engines loaded from now on.
    pub fn with_options(mut self, options: EngineOptions) -> Self {
        self.options = options;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn info_for(&self, path: &Path) -> Result<ModelInfo> {
        let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
        if let Some(info) = self.infos.lock().map_err(lock_err)?.get(&key) {
            return Ok(info.clone());
        }
        let info = ModelInfo::from_file(path)?;
        self.infos
            .lock()
            .map_err(lock_err)?
            .insert(key, info.clone());
        Ok(info)
    }

    /// Every `*.gguf` file of the directory with what reading it gave: its info, or why it is
    /// not a usable model. Sorted by file name.
    pub fn scan(&self) -> Result<Vec<(PathBuf, Result<ModelInfo>)>> {
        let mut paths: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
                    && p.is_file()
            })
            .collect();
        paths.sort();
        Ok(paths
            .into_iter()
            .map(|p| {
                let info = self.info_for(&p);
                (p, info)
            })
            .collect())
    }

    /// The usable models (files that fail to read are left out; [`ModelRegistry::scan`] says why).
    pub fn list(&self) -> Result<Vec<ModelEntry>> {
        Ok(self
            .scan()?
            .into_iter()
            .filter_map(|(p, info)| {
                Some(ModelEntry {
                    key: key_of(&p)?,
                    info: info.ok()?,
                })
            })
            .collect())
    }

    /// The model with this key.
    pub fn get(&self, key: &str) -> Result<ModelEntry> {
        let path = self.path_of(key)?;
        if !path.is_file() {
            return Err(Error::ModelNotFound(format!(
                "no model {key:?} in {}",
                self.dir.display()
            )));
        }
        Ok(ModelEntry {
            key: key.to_owned(),
            info: self.info_for(&path)?,
        })
    }

    /// The file a model named `key` has, or would have, in the directory: `<dir>/<key>.gguf`.
    /// A key that is not a plain file name (empty, with a path separator, or hidden) is
    /// [`Error::InvalidInput`].
    pub fn path_for(&self, key: &str) -> Result<PathBuf> {
        self.path_of(key)
    }

    fn path_of(&self, key: &str) -> Result<PathBuf> {
        if key.is_empty() || key.contains(['/', '\\']) || key.starts_with('.') {
            return Err(Error::InvalidInput(format!("invalid model key {key:?}")));
        }
        Ok(self.dir.join(format!("{key}.gguf")))
    }

    /// Copies a GGUF file into the directory (checked first; written to a temporary file and
    /// renamed, so a failed import leaves nothing behind). Importing the same file twice is a
    /// no-op; a different file under an existing name is refused.
    pub fn import(&self, source: impl AsRef<Path>) -> Result<ModelEntry> {
        let source = source.as_ref();
        let info = ModelInfo::from_file(source)?;
        let key = key_of(source).ok_or_else(|| {
            Error::InvalidInput(format!("cannot name a model after {}", source.display()))
        })?;
        let dest = self.path_of(&key)?;
        if dest.is_file() {
            let existing = self.info_for(&dest)?;
            if existing.file_blake3 == info.file_blake3 {
                return Ok(ModelEntry {
                    key,
                    info: existing,
                });
            }
            return Err(Error::InvalidInput(format!(
                "a different model named {key:?} is already registered (BLAKE3 {})",
                existing.file_blake3
            )));
        }
        let tmp = self.dir.join(format!(".{key}.gguf.importing"));
        let copy = || -> std::io::Result<()> {
            fs::copy(source, &tmp)?;
            fs::File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &dest)?;
            if let Ok(d) = fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        if let Err(e) = copy() {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&dest, e));
        }
        let imported = self.info_for(&dest)?;
        if imported.file_blake3 != info.file_blake3 {
            let _ = fs::remove_file(&dest);
            return Err(Error::Model {
                path: dest,
                reason: "the copy's BLAKE3 differs from the source's; import aborted".into(),
            });
        }
        Ok(ModelEntry {
            key,
            info: imported,
        })
    }

    /// Moves a finished file into the directory as the model `key` (a download, written beside
    /// the directory's models under a hidden name): checked as GGUF first, then linked into
    /// place, never over an existing file, and removed from its old name. `file` must lie on
    /// the directory's file system. The same model already registered under `key` leaves the
    /// registry as it is (and `file` is removed); a different one is refused, as
    /// [`ModelRegistry::import`] refuses it, and `file` stays where it was.
    pub fn adopt(&self, file: impl AsRef<Path>, key: &str) -> Result<ModelEntry> {
        let file = file.as_ref();
        let dest = self.path_of(key)?;
        let mut info = ModelInfo::from_file(file)?;
        let existing = |dest: &Path| -> Result<ModelEntry> {
            let existing = self.info_for(dest)?;
            if existing.file_blake3 == info.file_blake3 {
                let _ = fs::remove_file(file);
                return Ok(ModelEntry {
                    key: key.to_owned(),
                    info: existing,
                });
            }
            Err(Error::InvalidInput(format!(
                "a different model named {key:?} is already registered (BLAKE3 {})",
                existing.file_blake3
            )))
        };
        if dest.is_file() {
            return existing(&dest);
        }
        match fs::hard_link(file, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dest.is_file() => {
                return existing(&dest)
            }
            Err(e) => return Err(Error::io(&dest, e)),
        }
        let _ = fs::remove_file(file);
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        info.path = dest.clone();
        if let Ok(meta) = fs::metadata(&dest) {
            self.infos
                .lock()
                .map_err(lock_err)?
                .insert((dest, meta.len(), meta.modified().ok()), info.clone());
        }
        Ok(ModelEntry {
            key: key.to_owned(),
            info,
        })
    }

    /// Loads a model (or returns the engine already loaded for it).
    pub fn load(&self, key: &str) -> Result<Engine> {
        if let Some(e) = self.loaded.lock().map_err(lock_err)?.get(key) {
            return Ok(e.clone());
        }
        let entry = self.get(key)?;
        let engine = Engine::load_info(entry.info, self.options.clone())?;
        let mut loaded = self.loaded.lock().map_err(lock_err)?;
        // Another thread may have loaded it meanwhile: keep the first, drop ours.
        Ok(loaded.entry(key.to_owned()).or_insert(engine).clone())
    }

    /// Unloads a model; returns whether it was loaded. Its worker stops once the last clone of
    /// its [`Engine`] is dropped.
    pub fn unload(&self, key: &str) -> Result<bool> {
        Ok(self.loaded.lock().map_err(lock_err)?.remove(key).is_some())
    }

    /// Keys of the loaded models.
    pub fn loaded(&self) -> Result<Vec<String>> {
        Ok(self
            .loaded
            .lock()
            .map_err(lock_err)?
            .keys()
            .cloned()
            .collect())
    }

    /// An engine for a tier: a loaded model of that tier, else the first registered one (by key),
    /// loaded now. Pool is served by remote pools, not by the registry: [`Error::NoRemotePool`].
    pub fn engine_for_tier(&self, tier: ModelTier) -> Result<Engine> {
        if tier == ModelTier::Pool {
            return Err(Error::NoRemotePool);
        }
        let loaded = self
            .loaded
            .lock()
            .map_err(lock_err)?
            .values()
            .find(|e| e.info().tier == tier)
            .cloned();
        if let Some(e) = loaded {
            return Ok(e);
        }
        let entry = self
            .list()?
            .into_iter()
            .find(|e| e.info.tier == tier)
            .ok_or_else(|| {
                let (lo, hi) = match tier {
                    ModelTier::Edge => ("0", "3 B"),
                    _ => ("3 B", "34 B"),
                };
                Error::ModelNotFound(format!(
                    "no model registered for the {tier} tier in {} (the {tier} tier takes GGUF \
                     models of {lo} to {hi} parameters; import one)",
                    self.dir.display()
                ))
            })?;
        self.load(&entry.key)
    }
}

fn key_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".gguf")
        .or_else(|| name.strip_suffix(".GGUF"))
        .unwrap_or(name);
    (!stem.is_empty() && !stem.starts_with('.')).then(|| stem.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_by_size() {
        assert_eq!(tier_for_parameters(134_515_008), ModelTier::Edge);
        assert_eq!(tier_for_parameters(1_500_000_000), ModelTier::Edge);
        assert_eq!(tier_for_parameters(7_000_000_000), ModelTier::Local);
        assert_eq!(tier_for_parameters(70_000_000_000), ModelTier::Pool);
    }

    /// A GGUF file with a name and no tensors: a header the registry reads (not a model
    /// llama.cpp could load).
    fn tiny_gguf(path: &Path, name: &str) {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        let string = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u64).to_le_bytes());
            b.extend(s.as_bytes());
        };
        string(&mut b, "general.name");
        b.extend(8u32.to_le_bytes()); // the value's type: string
        string(&mut b, name);
        fs::write(path, b).unwrap();
    }

    #[test]
    fn adopt_moves_a_file_in_once_and_refuses_another_under_its_name() {
        let dir = std::env::temp_dir().join(format!("bizra-adopt-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let reg = ModelRegistry::open(dir.join("models")).unwrap();
        let part = reg.dir().join(".tiny.gguf.part");
        tiny_gguf(&part, "tiny");
        assert_eq!(reg.path_for("tiny").unwrap(), reg.dir().join("tiny.gguf"));
        assert!(reg.path_for("../x").is_err() && reg.path_for(".x").is_err());

        let entry = reg.adopt(&part, "tiny").unwrap();
        assert_eq!(entry.info.path, reg.dir().join("tiny.gguf"));
        assert_eq!(entry.info.name, "tiny");
        assert!(!part.exists());
        assert_eq!(reg.list().unwrap(), vec![entry.clone()]);

        // The same model again: nothing changes, the file goes.
        tiny_gguf(&part, "tiny");
        assert_eq!(reg.adopt(&part, "tiny").unwrap(), entry);
        assert!(!part.exists());
        // Another model under that name: refused, the file stays.
        tiny_gguf(&part, "other");
        let e = reg.adopt(&part, "tiny").unwrap_err();
        assert!(e.to_string().contains("different model"), "{e}");
        assert!(part.exists());
        // Not GGUF: refused before anything moves.
        fs::write(&part, b"<html>").unwrap();
        assert!(matches!(reg.adopt(&part, "web"), Err(Error::Model { .. })));
        assert!(!reg.dir().join("web.gguf").exists());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn pool_has_no_engine() {
        let dir = std::env::temp_dir().join(format!("bizra-reg-{}", std::process::id()));
        let reg = ModelRegistry::open(&dir).unwrap();
        let err = reg.engine_for_tier(ModelTier::Pool).unwrap_err();
        assert!(matches!(err, Error::NoRemotePool), "{err}");
        let err = reg.engine_for_tier(ModelTier::Local).unwrap_err();
        assert!(err.to_string().contains("local tier"), "{err}");
        let _ = fs::remove_dir_all(dir);
    }
}
