//! The test model (the GGUF at $BIZRA_TEST_MODEL, else in `$BIZRA_CACHE/models/`, which `make
//! model` fills), loaded into an engine.

use std::path::PathBuf;

use bizra_inference::{Engine, EngineOptions};

pub fn engine() -> Engine {
    let path = std::env::var_os("BIZRA_TEST_MODEL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("BIZRA_CACHE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/bizra")))
                .unwrap_or_else(|| PathBuf::from(".bizra-cache"))
                .join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    assert!(
        path.is_file(),
        "the test model is missing at {}: run `make model`, or set BIZRA_TEST_MODEL",
        path.display()
    );
    Engine::load(&path, EngineOptions::default()).expect("loading the test model")
}
