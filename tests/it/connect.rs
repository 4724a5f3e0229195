//! Connection settings and TLS against the real test server (being written).
