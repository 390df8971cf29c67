//! No code: this crate exists for its dependencies' features (see its Cargo.toml), so that every
//! `cargo` invocation in the workspace compiles each dependency with the same feature set.
