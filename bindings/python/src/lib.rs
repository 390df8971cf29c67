//! Python binding of bizra (work in progress).
