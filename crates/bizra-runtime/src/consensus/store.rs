//! What a consensus node keeps on disk, in `<data_dir>/consensus/`:
//!
//! - `wal`: the write-ahead log of the height being decided (the engine's
//!   [`WalRecord`]s), synced before any vote that depends on it leaves the node, emptied once
//!   the height's decision is stored;
//! - `decided`: every decided height, in order, with its certificate and batch: what a
//!   restarted node resumes from, what lagging peers fetch, and what anyone can verify.
//!
//! Both are files of records, appended and synced:
//!
//! ```text
//! length  4 bytes, big-endian: n
//! body    n bytes
//! check   16 bytes: the first 16 bytes of BLAKE3(body)
//! ```
//!
//! A write cut short by a crash leaves an incomplete or mismatching last record, which opening
//! the file cuts off (it was never synced, so nothing depended on it); a bad record followed by
//! good ones is damage, and opening refuses the file, naming it and the offset, rather than
//! lose what follows.
//!
//! A `decided` body is the height (8 bytes, big-endian), the certificate's canonical JSON
//! length (4 bytes) and text, then the batch's canonical JSON; a `wal` body is the height
//! (8 bytes) and the record's bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use bizra_consensus::{Batch, Certificate, WalRecord};
use bizra_protocol::{Error, Result};

/// Bytes a record adds to its body.
const FRAMING: u64 = 4 + CHECK_LEN as u64;
const CHECK_LEN: usize = 16;
/// The largest body read back: a certificate of the largest validator set and the largest
/// batch, with room to spare. A longer length field is damage.
const MAX_BODY: u32 = 64 << 20;

fn check(body: &[u8]) -> [u8; CHECK_LEN] {
    let digest = blake3::hash(body);
    let mut out = [0; CHECK_LEN];
    out.copy_from_slice(&digest.as_bytes()[..CHECK_LEN]);
    out
}

/// A record's body and where it starts in its file.
type Record = (u64, Vec<u8>);

/// An append-only file of checked records.
struct RecordFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl RecordFile {
    /// Opens (or creates) the file and reads its records: `(offset of the body, body)`. A torn
    /// last record is cut off.
    fn open(path: PathBuf) -> Result<(Self, Vec<Record>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io(&path, e))?;
        let mut records = Vec::new();
        let mut at = 0usize;
        let end = loop {
            let Some(head) = bytes.get(at..at + 4) else {
                break at;
            };
            let n = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            let body_at = at + 4;
            let complete = n <= MAX_BODY && body_at + n as usize + CHECK_LEN <= bytes.len();
            let good = complete && {
                let body = &bytes[body_at..body_at + n as usize];
                bytes[body_at + n as usize..body_at + n as usize + CHECK_LEN] == check(body)
            };
            if !good {
                // Damage is only forgivable at the end: an unsynced, torn append.
                let rest = bytes.len() - at;
                if complete && rest > n as usize + FRAMING as usize {
                    return Err(Error::InvalidInput(format!(
                        "{}: record at byte {at} is damaged (its checksum does not match) and \
                         more records follow; refusing to guess what the file held",
                        path.display()
                    )));
                }
                break at;
            }
            records.push((
                body_at as u64,
                bytes[body_at..body_at + n as usize].to_vec(),
            ));
            at = body_at + n as usize + CHECK_LEN;
        };
        if end < bytes.len() {
            file.set_len(end as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io(&path, e))?;
        }
        Ok((
            RecordFile {
                path,
                file,
                len: end as u64,
            },
            records,
        ))
    }

    /// Appends a record (not synced yet) and returns its body's offset.
    fn append(&mut self, body: &[u8]) -> Result<u64> {
        let n = u32::try_from(body.len())
            .ok()
            .filter(|n| *n <= MAX_BODY)
            .ok_or_else(|| {
                Error::InvalidInput(format!("a {} byte record is too long", body.len()))
            })?;
        let mut record = Vec::with_capacity(body.len() + FRAMING as usize);
        record.extend_from_slice(&n.to_be_bytes());
        record.extend_from_slice(body);
        record.extend_from_slice(&check(body));
        self.file
            .write_all(&record)
            .map_err(|e| Error::io(&self.path, e))?;
        let at = self.len + 4;
        self.len += record.len() as u64;
        Ok(at)
    }

    /// Makes every append so far durable.
    fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }

    /// Empties the file. Not synced: the next sync makes it durable with what follows, and
    /// until then, a crash may leave the old records, which are harmless (see
    /// [`Store::decide`]).
    fn clear(&mut self) -> Result<()> {
        self.file.set_len(0).map_err(|e| Error::io(&self.path, e))?;
        self.len = 0;
        Ok(())
    }

    /// Reads the body at `offset` of `len` bytes.
    fn read(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut body = vec![0; len];
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(&mut body))
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(body)
    }
}

/// A node's consensus storage.
pub(crate) struct Store {
    wal: RecordFile,
    /// What the WAL holds (the records of the height being decided: a few dozen).
    records: Vec<WalRecord>,
    /// Whether appends to the WAL wait for a sync.
    unsynced: bool,
    decided: RecordFile,
    /// The body offset and length of every decided height's record, from height 1.
    index: Vec<(u64, usize)>,
}

fn decided_body(certificate: &Certificate, batch: &Batch) -> Vec<u8> {
    let cert = certificate.to_json();
    let batch = batch.to_json();
    let mut body = Vec::with_capacity(12 + cert.len() + batch.len());
    body.extend_from_slice(&certificate.height().to_be_bytes());
    body.extend_from_slice(&(cert.len() as u32).to_be_bytes());
    body.extend_from_slice(cert.as_bytes());
    body.extend_from_slice(batch.as_bytes());
    body
}

fn parse_decided(path: &Path, body: &[u8]) -> Result<(u64, Certificate, Batch)> {
    let damaged =
        |what: &str| Error::InvalidInput(format!("{}: a decided record {what}", path.display()));
    let height = body
        .get(..8)
        .map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default()))
        .ok_or_else(|| damaged("is shorter than its height"))?;
    let cert_len = body
        .get(8..12)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap_or_default()) as usize)
        .ok_or_else(|| damaged("is shorter than its certificate length"))?;
    let cert = body
        .get(12..12 + cert_len)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| damaged("has a truncated or non-UTF-8 certificate"))?;
    let batch = std::str::from_utf8(&body[12 + cert_len..])
        .map_err(|_| damaged("has a non-UTF-8 batch"))?;
    let certificate = Certificate::from_json(cert)
        .map_err(|e| damaged(&format!("of height {height} holds a bad certificate: {e}")))?;
    let batch = Batch::from_json(batch)
        .map_err(|e| damaged(&format!("of height {height} holds a bad batch: {e}")))?;
    if certificate.height() != height {
        return Err(damaged(&format!(
            "of height {height} holds the certificate of height {}",
            certificate.height()
        )));
    }
    Ok((height, certificate, batch))
}

impl Store {
    /// Opens the storage in `dir` (created if missing). Decided heights must run from 1
    /// without a gap.
    pub(crate) fn open(dir: &Path) -> Result<Store> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let (decided, records) = RecordFile::open(dir.join("decided"))?;
        let mut index = Vec::with_capacity(records.len());
        for (offset, body) in &records {
            let height = body
                .get(..8)
                .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap_or_default()));
            if height != index.len() as u64 + 1 {
                return Err(Error::InvalidInput(format!(
                    "{}: holds height {height} after height {}",
                    decided.path.display(),
                    index.len()
                )));
            }
            index.push((*offset, body.len()));
        }
        let (wal, records) = RecordFile::open(dir.join("wal"))?;
        let records = records
            .into_iter()
            .filter_map(|(_, body)| {
                let height = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
                Some(WalRecord {
                    height,
                    bytes: body[8..].to_vec(),
                })
            })
            .collect();
        Ok(Store {
            wal,
            records,
            unsynced: false,
            decided,
            index,
        })
    }

    /// The highest decided height (0: none).
    pub(crate) fn last_decided(&self) -> u64 {
        self.index.len() as u64
    }

    /// What the WAL holds.
    pub(crate) fn wal_records(&self) -> &[WalRecord] {
        &self.records
    }

    /// Appends a WAL record; [`Store::sync_wal`] makes it durable.
    pub(crate) fn log(&mut self, record: &WalRecord) -> Result<()> {
        let mut body = Vec::with_capacity(8 + record.bytes.len());
        body.extend_from_slice(&record.height.to_be_bytes());
        body.extend_from_slice(&record.bytes);
        self.wal.append(&body)?;
        self.records.push(record.clone());
        self.unsynced = true;
        Ok(())
    }

    /// Makes the WAL durable, if anything was appended since the last sync.
    pub(crate) fn sync_wal(&mut self) -> Result<()> {
        if self.unsynced {
            self.wal.sync()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Stores a decided height, durably, then drops the WAL's records of that height and
    /// below (those of later heights, inputs the engine took ahead, are written back). Should
    /// a crash keep the dropped records, a restart skips them: the engine recovers only the
    /// height after the last decided one.
    pub(crate) fn decide(&mut self, certificate: &Certificate, batch: &Batch) -> Result<()> {
        let height = certificate.height();
        if height != self.last_decided() + 1 {
            return Err(Error::InvalidInput(format!(
                "storing height {height} after height {}",
                self.last_decided()
            )));
        }
        let body = decided_body(certificate, batch);
        let offset = self.decided.append(&body)?;
        self.decided.sync()?;
        self.index.push((offset, body.len()));
        self.wal.clear()?;
        self.records.retain(|r| r.height > height);
        for record in std::mem::take(&mut self.records) {
            self.log(&record)?;
        }
        Ok(())
    }

    /// The certificate and batch of a decided height, if decided.
    pub(crate) fn get(&mut self, height: u64) -> Result<Option<(Certificate, Batch)>> {
        let Some(&(offset, len)) = height
            .checked_sub(1)
            .and_then(|i| self.index.get(usize::try_from(i).ok()?))
        else {
            return Ok(None);
        };
        let body = self.decided.read(offset, len)?;
        let (_, certificate, batch) = parse_decided(&self.decided.path, &body)?;
        Ok(Some((certificate, batch)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(height: u64, byte: u8) -> WalRecord {
        WalRecord {
            height,
            bytes: vec![byte; 40],
        }
    }

    #[test]
    fn wal_records_survive_reopening_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.log(&record(1, 1)).unwrap();
            store.log(&record(1, 2)).unwrap();
            store.sync_wal().unwrap();
        }
        // A crash in the middle of the third append.
        let wal = dir.path().join("wal");
        let mut f = OpenOptions::new().append(true).open(&wal).unwrap();
        f.write_all(&[0, 0, 0, 40, 3, 3, 3]).unwrap();
        drop(f);
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.wal_records(), [record(1, 1), record(1, 2)]);
        assert_eq!(fs::metadata(&wal).unwrap().len(), 2 * (8 + 40 + FRAMING));
        // Appends go on after the cut.
        store.log(&record(1, 4)).unwrap();
        store.sync_wal().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.wal_records().len(), 3);
    }

    #[test]
    fn damage_before_good_records_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            for i in 0..3 {
                store.log(&record(1, i)).unwrap();
            }
            store.sync_wal().unwrap();
        }
        let wal = dir.path().join("wal");
        let mut bytes = fs::read(&wal).unwrap();
        bytes[10] ^= 1;
        fs::write(&wal, &bytes).unwrap();
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("wal") && err.contains("byte 0"), "{err}");
        // The file is left as it was, for an operator to look at.
        assert_eq!(fs::read(&wal).unwrap(), bytes);
    }
}
