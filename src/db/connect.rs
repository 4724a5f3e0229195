//! Connection settings (placeholder; being written).
