//! A small, defensive reader of GGUF headers: metadata and tensor shapes, no tensor data.
//!
//! Why our own reader rather than asking llama.cpp: the registry lists a models directory without
//! loading any model, and every file is checked here first, so a missing, foreign, truncated or
//! corrupt file gets a precise error from Rust before llama.cpp ever maps it. Every length read
//! from the file is bounded by the file's size, so a hostile header cannot make us allocate or
//! loop without end.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bizra_protocol::{Error, Result};

const MAGIC: &[u8; 4] = b"GGUF";
/// Upper bounds on counts a sane GGUF file has; a header beyond them is refused as corrupt.
const MAX_KV: u64 = 1 << 20;
const MAX_TENSORS: u64 = 1 << 20;
const MAX_DIMS: u32 = 8;
/// Strings kept in memory (metadata values we return); longer ones are skipped.
const MAX_KEPT_STRING: u64 = 1 << 20;

/// A metadata value we keep (arrays are summarised by their length; large strings skipped).
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// Any integer type.
    Int(i128),
    /// `f32` or `f64`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string (lossily decoded).
    Str(String),
    /// An array, with its element count.
    Array(u64),
}

/// What a GGUF file says about itself.
#[derive(Clone, Debug)]
pub struct GgufHeader {
    /// GGUF format version (2 or 3).
    pub version: u32,
    /// Metadata, by key.
    pub metadata: BTreeMap<String, MetaValue>,
    /// Total number of weights (sum over tensors of the product of their dimensions).
    pub parameters: u64,
    /// Number of tensors.
    pub tensor_count: u64,
    /// The most common tensor type among the 2-D tensors, by name (e.g. `Q4_1`).
    pub dominant_tensor_type: Option<&'static str>,
}

impl GgufHeader {
    /// A string value.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.metadata.get(key) {
            Some(MetaValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// An integer value.
    pub fn int(&self, key: &str) -> Option<i128> {
        match self.metadata.get(key) {
            Some(MetaValue::Int(i)) => Some(*i),
            _ => None,
        }
    }
}

struct Reader<R> {
    inner: R,
    pos: u64,
    len: u64,
    path: PathBuf,
}

impl<R: Read + Seek> Reader<R> {
    fn corrupt(&self, what: impl std::fmt::Display) -> Error {
        Error::Model {
            path: self.path.clone(),
            reason: format!("not a valid GGUF file: {what} (at byte {})", self.pos),
        }
    }

    fn truncated(&self, what: &str) -> Error {
        Error::Model {
            path: self.path.clone(),
            reason: format!(
                "truncated GGUF file: it ends at byte {} while reading {what}",
                self.len
            ),
        }
    }

    fn need(&self, n: u64, what: &str) -> Result<()> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(self.truncated(what)),
        }
    }

    fn bytes<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        self.need(N as u64, what)?;
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| Error::io(&self.path, e))?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes::<4>(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes::<8>(what)?))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<()> {
        self.need(n, what)?;
        let off = i64::try_from(n).map_err(|_| self.truncated(what))?;
        self.inner
            .seek(SeekFrom::Current(off))
            .map_err(|e| Error::io(&self.path, e))?;
        self.pos += n;
        Ok(())
    }

    /// A GGUF string; `None` when it was longer than `MAX_KEPT_STRING` and skipped.
    fn string(&mut self, what: &str) -> Result<Option<String>> {
        let n = self.u64(what)?;
        self.need(n, what)?;
        if n > MAX_KEPT_STRING {
            self.skip(n, what)?;
            return Ok(None);
        }
        let mut buf = vec![0u8; usize::try_from(n).map_err(|_| self.truncated(what))?];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| Error::io(&self.path, e))?;
        self.pos += n;
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    fn scalar_size(ty: u32) -> Option<u64> {
        match ty {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        }
    }

    fn value(&mut self, ty: u32, key: &str) -> Result<Option<MetaValue>> {
        let v = match ty {
            0 => MetaValue::Int(i128::from(self.bytes::<1>(key)?[0])),
            1 => MetaValue::Int(i128::from(i8::from_le_bytes(self.bytes::<1>(key)?))),
            2 => MetaValue::Int(i128::from(u16::from_le_bytes(self.bytes::<2>(key)?))),
            3 => MetaValue::Int(i128::from(i16::from_le_bytes(self.bytes::<2>(key)?))),
            4 => MetaValue::Int(i128::from(self.u32(key)?)),
            5 => MetaValue::Int(i128::from(i32::from_le_bytes(self.bytes::<4>(key)?))),
            6 => MetaValue::Float(f64::from(f32::from_le_bytes(self.bytes::<4>(key)?))),
            7 => MetaValue::Bool(self.bytes::<1>(key)?[0] != 0),
            8 => match self.string(key)? {
                Some(s) => MetaValue::Str(s),
                None => return Ok(None),
            },
            9 => {
                let elem = self.u32(key)?;
                let n = self.u64(key)?;
                if let Some(size) = Self::scalar_size(elem) {
                    let total = n.checked_mul(size).ok_or_else(|| self.truncated(key))?;
                    self.skip(total, key)?;
                } else if elem == 8 {
                    // Each element needs at least its 8-byte length: bounds the loop by the file.
                    self.need(n.saturating_mul(8), key)?;
                    for _ in 0..n {
                        let len = self.u64(key)?;
                        self.skip(len, key)?;
                    }
                } else {
                    return Err(self.corrupt(format!("array of type {elem} in {key:?}")));
                }
                MetaValue::Array(n)
            }
            10 => MetaValue::Int(i128::from(self.u64(key)?)),
            11 => MetaValue::Int(i128::from(i64::from_le_bytes(self.bytes::<8>(key)?))),
            12 => MetaValue::Float(f64::from_le_bytes(self.bytes::<8>(key)?)),
            other => return Err(self.corrupt(format!("unknown value type {other} for {key:?}"))),
        };
        Ok(Some(v))
    }
}

/// (name, block size in elements, bytes per block) of the ggml tensor types we size-check.
fn ggml_type(ty: u32) -> Option<(&'static str, u64, u64)> {
    Some(match ty {
        0 => ("F32", 1, 4),
        1 => ("F16", 1, 2),
        2 => ("Q4_0", 32, 18),
        3 => ("Q4_1", 32, 20),
        6 => ("Q5_0", 32, 22),
        7 => ("Q5_1", 32, 24),
        8 => ("Q8_0", 32, 34),
        9 => ("Q8_1", 32, 36),
        10 => ("Q2_K", 256, 84),
        11 => ("Q3_K", 256, 110),
        12 => ("Q4_K", 256, 144),
        13 => ("Q5_K", 256, 176),
        14 => ("Q6_K", 256, 210),
        15 => ("Q8_K", 256, 292),
        24 => ("I8", 1, 1),
        25 => ("I16", 1, 2),
        26 => ("I32", 1, 4),
        27 => ("I64", 1, 8),
        28 => ("F64", 1, 8),
        30 => ("BF16", 1, 2),
        _ => return None,
    })
}

/// The quantisation named by `general.file_type` (llama.cpp's `llama_ftype`).
pub fn file_type_name(ft: i128) -> Option<&'static str> {
    Some(match ft {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4",
        _ => return None,
    })
}

/// Reads and checks a GGUF file's header: magic, version, metadata, tensor infos, and that every
/// tensor whose type we know lies within the file (a truncated download is caught here).
pub fn read_header(path: &Path) -> Result<GgufHeader> {
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Model {
                path: path.to_path_buf(),
                reason: "no such file".into(),
            }
        } else {
            Error::io(path, e)
        }
    })?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::Model {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    let mut r = Reader {
        inner: BufReader::with_capacity(1 << 16, file),
        pos: 0,
        len: meta.len(),
        path: path.to_path_buf(),
    };
    if r.len < 4 {
        return Err(r.corrupt(format!("{} bytes, too short for the GGUF magic", r.len)));
    }
    let magic = r.bytes::<4>("magic")?;
    if &magic != MAGIC {
        return Err(Error::Model {
            path: path.to_path_buf(),
            reason: format!(
                "not a GGUF file: it starts with {:02x?}, not the magic \"GGUF\"",
                magic
            ),
        });
    }
    let version = r.u32("version")?;
    if !(2..=3).contains(&version) {
        return Err(r.corrupt(format!("unsupported GGUF version {version}")));
    }
    let tensor_count = r.u64("tensor count")?;
    let kv_count = r.u64("metadata count")?;
    if tensor_count > MAX_TENSORS || kv_count > MAX_KV {
        return Err(r.corrupt(format!(
            "implausible counts ({tensor_count} tensors, {kv_count} metadata entries)"
        )));
    }

    let mut metadata = BTreeMap::new();
    for _ in 0..kv_count {
        let key = r
            .string("metadata key")?
            .ok_or_else(|| r.corrupt("metadata key longer than 1 MiB"))?;
        let ty = r.u32("metadata type")?;
        if let Some(v) = r.value(ty, &key)? {
            metadata.insert(key, v);
        }
    }

    let mut parameters: u64 = 0;
    let mut type_counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut extents: Vec<(u64, Option<u64>)> = Vec::new();
    for _ in 0..tensor_count {
        let name = r.string("tensor name")?.unwrap_or_default();
        let n_dims = r.u32("tensor dimensions")?;
        if n_dims > MAX_DIMS {
            return Err(r.corrupt(format!("tensor {name:?} has {n_dims} dimensions")));
        }
        let mut elems: u64 = 1;
        for _ in 0..n_dims {
            let d = r.u64("tensor shape")?;
            elems = elems
                .checked_mul(d)
                .ok_or_else(|| r.corrupt(format!("tensor {name:?} shape overflows")))?;
        }
        let ty = r.u32("tensor type")?;
        let offset = r.u64("tensor offset")?;
        parameters = parameters.saturating_add(elems);
        let size = ggml_type(ty).and_then(|(tname, block, bytes)| {
            if n_dims >= 2 {
                *type_counts.entry(tname).or_default() += elems;
            }
            (elems % block == 0).then(|| (elems / block).saturating_mul(bytes))
        });
        extents.push((offset, size));
    }

    let alignment = match metadata.get("general.alignment") {
        Some(MetaValue::Int(a)) if *a > 0 && *a <= 1 << 20 => u64::try_from(*a).unwrap_or(32),
        _ => 32,
    };
    let data_start = r.pos.div_ceil(alignment).saturating_mul(alignment);
    for (offset, size) in extents {
        let end = data_start
            .saturating_add(offset)
            .saturating_add(size.unwrap_or(0));
        if end > r.len {
            return Err(Error::Model {
                path: path.to_path_buf(),
                reason: format!(
                    "truncated GGUF file: tensor data needs {end} bytes but the file has {}",
                    r.len
                ),
            });
        }
    }
    let dominant_tensor_type = type_counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(t, _)| t);

    Ok(GgufHeader {
        version,
        metadata,
        parameters,
        tensor_count,
        dominant_tensor_type,
    })
}
