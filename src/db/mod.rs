//! Everything that talks to PostgreSQL: connecting (URL, libpq environment, TLS), the
//! version tables, the session lock and running revision SQL.

pub mod connect;
pub mod split;
