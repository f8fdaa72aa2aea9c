//! Layout types that several frozen Firecracker layouts share, in one named place: each layout
//! module imports what it uses from here by name, and each module here lists the layouts that
//! use each type. A layout whose type differs defines its own instead.

pub mod v1_12;
pub mod v1_16;
