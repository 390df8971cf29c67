//! Link arguments for the extension module: it exports `PyInit__native` alone.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "android" || target_os.ends_with("bsd") {
        // rustc exports every `#[no_mangle]` symbol of every linked crate: the cxx bridge of the
        // memory store's vector index (usearch) would export `cxxbridge1$*`. Symbols from archives
        // (the rlibs and static libraries linked in) are kept out of the dynamic table;
        // `PyInit__native` is this crate's own.
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
}
