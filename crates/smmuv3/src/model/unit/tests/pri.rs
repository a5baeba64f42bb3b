//! Page requests through the unit.
