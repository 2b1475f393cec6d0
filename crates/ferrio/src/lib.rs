//! Socket.IO
