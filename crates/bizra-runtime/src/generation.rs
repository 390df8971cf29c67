//! The node's generation: a boot counter kept in its data directory, so that a restarted node is
//! never mistaken for its old self (its datagrams' sequence numbers start over, and its peers
//! replace the old identity with the new one).

use std::fs;
use std::io::Write as _;
use std::path::Path;

use bizra_protocol::{Error, Result};

/// The file in the data directory that holds the last boot's number.
const FILE: &str = "generation";

/// The generation of this boot: the boot number in the high 48 bits (the low 16 count renewals
/// within the boot). With a data directory the boot number is the stored one plus one, written
/// back atomically before the node speaks; without one it is the current Unix time in seconds,
/// which grows from boot to boot as long as the clock does.
pub fn next(data_dir: Option<&Path>) -> Result<u64> {
    let boot = match data_dir {
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
        Some(dir) => {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            let path = dir.join(FILE);
            let last = match fs::read_to_string(&path) {
                Ok(text) => text.trim().parse::<u64>().map_err(|_| {
                    Error::InvalidInput(format!(
                        "{}: not a generation number (remove it to start over)",
                        path.display()
                    ))
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(Error::io(&path, e)),
            };
            let boot = last
                .checked_add(1)
                .filter(|b| *b < 1 << 48)
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "{}: the boot counter is exhausted",
                        path.display()
                    ))
                })?;
            let tmp = dir.join(format!(".{FILE}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut f = fs::File::create(&tmp)?;
                f.write_all(boot.to_string().as_bytes())?;
                f.sync_all()?;
                fs::rename(&tmp, &path)
            };
            write().map_err(|e| Error::io(&path, e))?;
            boot
        }
    };
    Ok(boot << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_boot_is_later_than_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let a = next(Some(dir.path())).unwrap();
        let b = next(Some(dir.path())).unwrap();
        assert_eq!(a, 1 << 16);
        assert_eq!(b, 2 << 16);
        fs::write(dir.path().join(FILE), "garbage").unwrap();
        assert!(next(Some(dir.path())).is_err());
        assert!(next(None).unwrap() > b);
    }
}
