//! Decoding every shape in which an object-created event reaches a Lambda.
//!
//! - a direct S3 notification (`Records[].s3`);
//! - SQS messages whose body is an S3 notification, an `s3:TestEvent`, an SNS
//!   envelope around an S3 notification, or an EventBridge event;
//! - SNS records (`Records[].Sns.Message`) carrying an S3 notification;
//! - an EventBridge "Object Created" event.
//!
//! S3 notification keys are form-encoded (`+` is a space, `%2F` is `/`) and
//! are decoded here; EventBridge keys arrive as they are. Test events yield no
//! objects. Each object keeps the SQS message id it came in, so a handler can
//! report exactly the messages that failed.

use aws_lambda_events::event::sqs::SqsEvent;
use percent_encoding::percent_decode_str;
use serde_json::Value;

/// One object-created notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    pub bucket: String,
    pub key: String,
}

/// The objects one delivery unit carries: a whole direct event, or one SQS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The SQS message id, when the event came through SQS.
    pub message_id: Option<String>,
    /// The objects, or why the message could not be understood.
    pub objects: Result<Vec<ObjectEvent>, String>,
}

/// `a+b%2Fc` → `a b/c`, as S3 encodes keys in notifications.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Splits a Lambda payload into deliveries.
pub fn deliveries(payload: &Value) -> Vec<Delivery> {
    let first_source =
        payload.pointer("/Records/0/eventSource").or_else(|| payload.pointer("/Records/0/EventSource")).and_then(Value::as_str);
    match first_source {
        Some("aws:sqs") => match serde_json::from_value::<SqsEvent>(payload.clone()) {
            Ok(event) => event
                .records
                .into_iter()
                .map(|message| Delivery {
                    objects: message.body.as_deref().ok_or_else(|| "the SQS message has no body".to_owned()).and_then(objects_in_body),
                    message_id: message.message_id,
                })
                .collect(),
            Err(e) => vec![Delivery { message_id: None, objects: Err(format!("not an SQS event: {e}")) }],
        },
        _ => vec![Delivery { message_id: None, objects: objects_in(payload) }],
    }
}

/// The objects in an SQS message body.
fn objects_in_body(body: &str) -> Result<Vec<ObjectEvent>, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("the message body is not JSON ({e}): {}", preview(body)))?;
    objects_in(&value)
}

/// The objects in a decoded notification of any supported shape.
fn objects_in(value: &Value) -> Result<Vec<ObjectEvent>, String> {
    // S3 sends this once when a notification is configured; it names no object.
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    // An SNS envelope, delivered to SQS or to Lambda.
    if value.get("Type").and_then(Value::as_str) == Some("Notification") {
        let message = value.get("Message").and_then(Value::as_str).ok_or("the SNS notification has no Message")?;
        return objects_in_body(message);
    }
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        if records.first().and_then(|r| r.get("EventSource").or_else(|| r.get("eventSource"))).and_then(Value::as_str) == Some("aws:sns") {
            let mut objects = Vec::new();
            for record in records {
                let message = record.pointer("/Sns/Message").and_then(Value::as_str).ok_or("an SNS record has no Sns.Message")?;
                objects.extend(objects_in_body(message)?);
            }
            return Ok(objects);
        }
        // The fields are read one by one rather than through `S3Event`, which
        // requires `userIdentity` and friends that S3-API services other than
        // AWS (moto among them) leave out.
        let mut objects = Vec::new();
        for record in records {
            let name = record.get("eventName").and_then(Value::as_str).unwrap_or_default();
            if !name.starts_with("ObjectCreated") {
                continue;
            }
            let bucket = record.pointer("/s3/bucket/name").and_then(Value::as_str).ok_or("an S3 record has no s3.bucket.name")?;
            let key = record.pointer("/s3/object/key").and_then(Value::as_str).ok_or("an S3 record has no s3.object.key")?;
            objects.push(ObjectEvent { bucket: bucket.to_owned(), key: decode_key(key) });
        }
        return Ok(objects);
    }
    if value.get("detail-type").and_then(Value::as_str) == Some("Object Created") {
        let bucket =
            value.pointer("/detail/bucket/name").and_then(Value::as_str).ok_or("the EventBridge event has no detail.bucket.name")?;
        let key = value.pointer("/detail/object/key").and_then(Value::as_str).ok_or("the EventBridge event has no detail.object.key")?;
        return Ok(vec![ObjectEvent { bucket: bucket.to_owned(), key: key.to_owned() }]);
    }
    Err(format!("not an object-created event: {}", preview(&value.to_string())))
}

/// An EventBridge-shaped "Object Created" event for one object: what the
/// entry point forwards to the unzip function. Its key is not encoded, so
/// nothing has to be escaped on the way.
pub fn object_created(object: &ObjectEvent) -> Value {
    serde_json::json!({
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": { "bucket": { "name": object.bucket }, "object": { "key": object.key } }
    })
}

fn preview(text: &str) -> String {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() { format!("{}…", &text[..end]) } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_event(key: &str) -> Value {
        json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2021-04-08T01:56:40.986Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "input", "arn": "arn:aws:s3:::input"},
                   "object": {"key": key, "size": 3, "eTag": "abc"}}
        }]})
    }

    fn sqs(bodies: &[String]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| json!({"messageId": format!("m{i}"), "receiptHandle": "r", "body": body, "eventSource": "aws:sqs",
                                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1", "attributes": {}, "messageAttributes": {}}))
            .collect();
        json!({ "Records": records })
    }

    fn keys(delivery: &Delivery) -> Vec<String> {
        delivery.objects.as_ref().unwrap().iter().map(|o| o.key.clone()).collect()
    }

    #[test]
    fn the_real_reference_event_decodes() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/events/s3-put-buoy.json")).unwrap();
        let d = deliveries(&serde_json::from_str(&text).unwrap());
        assert_eq!(keys(&d[0]), ["a2e_buoy_ingest/humboldt/buoy.z05.00.20201201.000000.zip"]);
        assert_eq!(d[0].objects.as_ref().unwrap()[0].bucket, "a2e-tsdat-test");
    }

    #[test]
    fn keys_are_url_decoded() {
        let d = deliveries(&s3_event("in/my+file%2B1%3A2.csv"));
        assert_eq!(keys(&d[0]), ["in/my file+1:2.csv"]);
    }

    #[test]
    fn sqs_carries_s3_test_events_sns_and_eventbridge() {
        let s3 = s3_event("in/a+b.csv").to_string();
        let test_event =
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2021-01-01T00:00:00Z", "Bucket": "input"}).to_string();
        let sns = json!({"Type": "Notification", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": s3_event("in/via%20sns.csv").to_string()}).to_string();
        let bridge = json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name": "input"}, "object": {"key": "in/raw:key.csv", "etag": "e"}}}).to_string();
        let d = deliveries(&sqs(&[s3, test_event, sns, bridge, "not json".into()]));
        assert_eq!(d.len(), 5);
        assert_eq!(keys(&d[0]), ["in/a b.csv"]);
        assert!(keys(&d[1]).is_empty(), "a test event names no object");
        assert_eq!(keys(&d[2]), ["in/via sns.csv"]);
        assert_eq!(keys(&d[3]), ["in/raw:key.csv"], "EventBridge keys are not encoded");
        assert_eq!(d[4].message_id.as_deref(), Some("m4"));
        assert!(d[4].objects.as_ref().unwrap_err().contains("not JSON"));
    }

    #[test]
    fn direct_eventbridge_and_sns_records() {
        let bridge =
            json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}});
        assert_eq!(keys(&deliveries(&bridge)[0]), ["k"]);
        let sns =
            json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": s3_event("in/x.csv").to_string()}}]});
        assert_eq!(keys(&deliveries(&sns)[0]), ["in/x.csv"]);
    }

    #[test]
    fn a_forwarded_event_decodes_to_the_same_object() {
        let object = ObjectEvent { bucket: "input".into(), key: "in/a b+c%d:e.ZIP".into() };
        let body = object_created(&object).to_string();
        let d = deliveries(&sqs(&[body]));
        assert_eq!(d[0].objects.as_ref().unwrap(), &vec![object]);
    }

    #[test]
    fn records_without_user_identity_still_decode() {
        let mut event = s3_event("in/x.csv");
        event["Records"][0].as_object_mut().unwrap().remove("userIdentity");
        assert_eq!(keys(&deliveries(&event)[0]), ["in/x.csv"]);
    }

    #[test]
    fn removals_are_not_creations() {
        let mut event = s3_event("in/x.csv");
        event["Records"][0]["eventName"] = json!("ObjectRemoved:Delete");
        assert!(keys(&deliveries(&event)[0]).is_empty());
    }

    /// Any JSON: objects with the keys the decoder looks for more often than others.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let keys = prop::sample::select(vec![
            "Records",
            "eventSource",
            "EventSource",
            "s3",
            "bucket",
            "object",
            "name",
            "key",
            "body",
            "Sns",
            "Message",
            "detail",
            "detail-type",
            "source",
            "Event",
            "messageId",
            "x",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec!["aws:sqs", "aws:s3", "aws:sns", "s3:TestEvent", "Object Created", "aws.s3", "a+b%2Fc%", ""])
                .prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec((keys.clone(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 512, failure_persistence: None, ..Default::default() })]

        /// Whatever a payload holds, decoding it answers: objects or a reason,
        /// never a panic; and a message body that is itself any JSON too.
        #[test]
        fn any_payload_decodes_to_objects_or_a_reason(payload in any_json(), body in any_json()) {
            let _ = deliveries(&payload);
            let message = sqs(&[body.to_string()]);
            let decoded = deliveries(&message);
            proptest::prop_assert_eq!(decoded.len(), 1);
        }

        /// A `+` in a notification is a space; a `+` in the key arrives as `%2B`.
        #[test]
        fn any_key_text_decodes(raw in "([a-z+ /%]|%2[bB]|%2[fF]|%[0-9A-F]{2}|.){0,32}") {
            let decoded = decode_key(&raw);
            let encoded_plus = raw.contains("%2B") || raw.contains("%2b");
            proptest::prop_assert!(!decoded.contains('+') || encoded_plus, "{raw:?} → {decoded:?}");
        }
    }
}
