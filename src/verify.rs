//! `verify`: every finding about a state file.
