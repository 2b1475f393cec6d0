//! Engine.IO
