//! Statement splitting (placeholder; being written).
