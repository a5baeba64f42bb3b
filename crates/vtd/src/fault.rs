//! (filled in by the next change)
