#![no_main]
//! `retort::fuzzing::config_file` on arbitrary bytes: it must return, never panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| retort::fuzzing::config_file(data));
