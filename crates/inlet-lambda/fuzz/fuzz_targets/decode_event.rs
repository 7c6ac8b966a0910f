#![no_main]

// The decoder is compiled from its own source file rather than through
// inlet-lambda, whose Lambda runtime and AWS clients the sanitizer would
// otherwise build again for nothing: the decoder needs only these three
// crates, which this target's manifest names.
#[path = "../../src/events.rs"]
mod events;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        // Any text is a key S3 might send; decoding it never fails.
        let _ = events::decode_key(text);
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(bytes) else { return };
    for delivery in events::deliveries(&payload) {
        match delivery.objects {
            Ok(objects) => {
                for object in objects {
                    // What the unzip function forwards names the same object.
                    let forwarded = events::object_created(&object);
                    let again = events::deliveries(&forwarded);
                    assert_eq!(again.len(), 1);
                    assert_eq!(again[0].objects.as_deref(), Ok(&[object][..]), "forwarding keeps the object");
                }
            }
            Err(reason) => assert!(!reason.is_empty(), "a refusal says why"),
        }
    }
});
