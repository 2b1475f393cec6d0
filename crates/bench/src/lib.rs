#![warn(missing_docs)]
//! Load generator for Socket.IO v5 / Engine.IO v4 servers implementing the
//! conformance contract; the binaries are `ferrio-bench` (the generator),
//! `compare` (the comparison runner) and `socketioxide_server`.

pub mod net;
pub mod polling;
pub mod proto;
pub mod scenarios;
pub mod stats;
