#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| inlet_core_fuzz::expand("buoy.zip", bytes));
