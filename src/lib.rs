pub mod diagnostic;
pub mod manifest;
pub mod plan;
pub mod render;
