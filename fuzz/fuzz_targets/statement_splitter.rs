#![no_main]
//! `retort::fuzzing::statement_splitter` on arbitrary bytes: it must return, never panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| retort::fuzzing::statement_splitter(data));
