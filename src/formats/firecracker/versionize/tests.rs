//! Tests of the versionize-era reader and writer.
