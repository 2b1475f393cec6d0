//! Socket.IO

pub mod parser;
