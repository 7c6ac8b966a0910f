#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| inlet_core_fuzz::read("in/cyi/air_quality/2024-01-15/export.jsonl", bytes));
