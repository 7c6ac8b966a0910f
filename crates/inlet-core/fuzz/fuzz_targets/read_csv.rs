#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| inlet_core_fuzz::read("in/asx_eod_20201201.csv", bytes));
