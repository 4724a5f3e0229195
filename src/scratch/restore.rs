//! Loading a dump into a scratch database (stub, being written).
