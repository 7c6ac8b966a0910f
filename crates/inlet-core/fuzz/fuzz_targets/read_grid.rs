#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| inlet_core_fuzz::read("in/solar_dni_20240115_03UT.txt", bytes));
