//! Node binding of bizra (work in progress).
