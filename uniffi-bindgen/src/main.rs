//! `uniffi-bindgen`, pinned to the UniFFI version of `bizra-sys`: generates the Kotlin and Swift
//! bindings from the built `libbizra.so` (library mode).

fn main() {
    uniffi::uniffi_bindgen_main()
}
