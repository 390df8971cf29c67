//! The test model loaded into an engine. The file is found as every Rust suite finds it
//! (`BIZRA_TEST_MODEL`, else `$BIZRA_CACHE/models/`, which `make model` fills): bizra-inference's
//! test support, which needs nothing but std so that any test crate can include it.

#[path = "../../../bizra-inference/tests/support/pool_server.rs"]
mod pool_server;

use bizra_inference::{Engine, EngineOptions};

pub fn engine() -> Engine {
    Engine::load(pool_server::model(), EngineOptions::default()).expect("loading the test model")
}
