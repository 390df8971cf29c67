//! The C ABI of bizra (work in progress).
