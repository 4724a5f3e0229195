#![no_main]
//! `retort::fuzzing::connection_string` on arbitrary bytes: it must return, never panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| retort::fuzzing::connection_string(data));
