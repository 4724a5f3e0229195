#![no_main]
//! `retort::fuzzing::service_file` on arbitrary bytes: it must return, never panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| retort::fuzzing::service_file(data));
