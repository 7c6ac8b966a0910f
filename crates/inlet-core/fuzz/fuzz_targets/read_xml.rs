#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| inlet_core_fuzz::read("in/ted/000001_2024.xml", bytes));
