//! `inspect`: a readable summary of a snapshot.
