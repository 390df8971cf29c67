//! Link arguments for `libbizra.so`: the version script (only `bizra_*` and UniFFI's symbols are
//! exported), nothing exported from the archives linked in, and the SONAME
//! (`libbizra.so.<BIZRA_ABI_VERSION>`).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let map = std::path::Path::new(&dir).join("bizra.map");
    println!("cargo:rerun-if-changed={}", map.display());
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "android" || target_os.ends_with("bsd") {
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
            map.display()
        );
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbizra.so.0");
        // rustc's own version script makes every `#[no_mangle]` symbol of every linked crate
        // global by exact name, which beats the map's `local: *` glob: the cxx bridge of the
        // autopoiesis store's vector index (usearch) would export `cxxbridge1$*`. Symbols from
        // archives (the rlibs and static libraries linked in) are kept out of the dynamic table;
        // the C ABI and the UniFFI scaffolding are this crate's own objects, not archives.
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
}
