#![no_main]
//! `retort::fuzzing::pgpass_file` on arbitrary bytes: it must return, never panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| retort::fuzzing::pgpass_file(data));
