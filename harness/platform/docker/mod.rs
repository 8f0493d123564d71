//! The Docker platform (placeholder while it is written).
