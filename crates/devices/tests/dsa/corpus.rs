//! Replays the fuzz corpus.
