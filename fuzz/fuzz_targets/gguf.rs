//! A GGUF file from outside (a download, an import): its header read and checked, as the model
//! registry does before anything is loaded. The reader is compiled here from its source (it needs
//! only the protocol crate), so the target does not build llama.cpp. Nothing may panic, and no
//! stated count or length may make it allocate or loop without bound.
#![no_main]

#[path = "../../crates/bizra-inference/src/gguf.rs"]
#[allow(dead_code)]
mod gguf;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static std::path::Path {
    static P: OnceLock<std::path::PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("bizra-fuzz-{}.gguf", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    if std::fs::write(scratch(), data).is_err() {
        return;
    }
    let _ = gguf::read_header(scratch());
});
