#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| saescope_fuzz::corpus(data));
