//! The library's version and ABI generation.

use std::ffi::c_char;

use crate::{bizra_status, boundary, out_checked, put, BIZRA_STATUS_OK};

/// The library's major version (semver); checked against Cargo.toml by the C suite.
pub const BIZRA_VERSION_MAJOR: u32 = 0;
/// The library's minor version.
pub const BIZRA_VERSION_MINOR: u32 = 1;
/// The library's patch version.
pub const BIZRA_VERSION_PATCH: u32 = 0;
/// The ABI generation: bumped on any incompatible change of this header; it is the SONAME's
/// number (`libbizra.so.0`).
pub const BIZRA_ABI_VERSION: u32 = 0;

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library's version, e.g. `"0.1.0"`: a static string owned by the library, never freed.
#[no_mangle]
pub extern "C" fn bizra_version() -> *const c_char {
    boundary("bizra_version", || Ok(VERSION.as_ptr().cast()))
}

/// The ABI generation of the loaded library (compare with `BIZRA_ABI_VERSION`), written to
/// `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_abi_version(out: *mut u32) -> bizra_status {
    boundary("bizra_abi_version", || {
        let out = out_checked(out)?;
        put(out, BIZRA_ABI_VERSION);
        Ok(BIZRA_STATUS_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_match_cargo() {
        assert_eq!(
            BIZRA_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            BIZRA_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            BIZRA_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
    }
}
