#![no_main]
//! `retort::fuzzing::dump_header` on arbitrary bytes: it must return, never panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| retort::fuzzing::dump_header(data));
