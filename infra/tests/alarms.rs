//! The app stack tells its alerts topic about every failure a user would
//! otherwise not see. moto's CloudFormation skips alarms and subscriptions,
//! so they are checked here, on the synthesized template.

use infra::stacks::lambda;
use serde_json::{Value, json};

fn resources() -> serde_json::Map<String, Value> {
    lambda::stack().to_template()["Resources"].as_object().expect("resources").clone()
}

fn of_type<'a>(resources: &'a serde_json::Map<String, Value>, kind: &str) -> Vec<(&'a String, &'a Value)> {
    resources.iter().filter(|(_, r)| r["Type"] == kind).collect()
}

/// The alarms watching `id`, by the metric they read.
fn alarms_on(resources: &serde_json::Map<String, Value>, watched: &Value) -> Vec<String> {
    of_type(resources, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| alarm["Properties"]["Dimensions"][0]["Value"] == *watched)
        .map(|(_, alarm)| alarm["Properties"]["MetricName"].as_str().expect("a metric").to_owned())
        .collect()
}

fn alerts_topic() -> Value {
    json!([{ "Ref": "AlertsTopic" }])
}

#[test]
fn every_dead_letter_queue_alarms_on_its_first_message_and_every_other_queue_on_age() {
    let resources = resources();
    let queues = of_type(&resources, "AWS::SQS::Queue");
    assert!(queues.len() >= 10, "the app stack has its five queues and their dead letters");
    for (id, queue) in queues {
        let watched = json!({ "Fn::GetAtt": [id, "QueueName"] });
        let expected = if queue["Properties"].get("RedrivePolicy").is_some() {
            "ApproximateAgeOfOldestMessage"
        } else {
            "ApproximateNumberOfMessagesVisible"
        };
        assert_eq!(alarms_on(&resources, &watched), [expected], "{id}");
    }
    let depth = &resources["PipelineRunnerQueueDeadLettersDepthAlarm"]["Properties"];
    assert_eq!((depth["Threshold"].clone(), depth["ComparisonOperator"].clone()), (json!(0), json!("GreaterThanThreshold")));
    let age = &resources["PipelineRunnerQueueAgeAlarm"]["Properties"];
    assert_eq!(age["Threshold"], resources["PipelineRunnerQueue"]["Properties"]["VisibilityTimeout"]);
}

#[test]
fn every_function_alarms_on_its_errors_under_its_own_condition() {
    let resources = resources();
    let functions = of_type(&resources, "AWS::Lambda::Function");
    assert!(functions.len() >= 8);
    for (id, function) in functions {
        assert_eq!(alarms_on(&resources, &json!({ "Ref": id })), ["Errors"], "{id}");
        let alarm = &resources[&format!("{id}ErrorsAlarm")];
        assert_eq!(alarm.get("Condition"), function.get("Condition"), "{id}: no alarm on a function that is not there");
    }
}

#[test]
fn every_alarm_tells_the_alerts_topic_when_it_fires_and_when_it_clears() {
    let resources = resources();
    for (id, alarm) in of_type(&resources, "AWS::CloudWatch::Alarm") {
        assert_eq!(alarm["Properties"]["AlarmActions"], alerts_topic(), "{id}");
        assert_eq!(alarm["Properties"]["OKActions"], alerts_topic(), "{id}");
        assert!(alarm["Properties"]["AlarmDescription"].as_str().is_some_and(|d| d.len() > 40), "{id} says what to do");
    }
}

#[test]
fn a_pipelines_thresholds_become_its_reject_share_and_no_arrival_alarms() {
    let resources = resources();
    // pipelines/a2e_buoy_ingest/pipeline.yaml: max_reject_share 0.1, expected_every 36h.
    let share = &resources["A2eBuoyIngestRejectShareAlarm"]["Properties"];
    assert_eq!(share["Threshold"], 0.1);
    let expression = share["Metrics"].as_array().expect("metric math").iter().find(|m| m["ReturnData"] == true).expect("a result");
    assert_eq!(expression["Expression"], "rejected / read");
    let read = &share["Metrics"][1]["MetricStat"]["Metric"];
    assert_eq!((read["Namespace"].clone(), read["MetricName"].clone()), (json!("inlet"), json!("RowsRead")));
    assert_eq!(read["Dimensions"], json!([{ "Name": "Pipeline", "Value": "a2e_buoy_ingest" }]));

    let silence = &resources["A2eBuoyIngestNoArrivalsAlarm"]["Properties"];
    assert_eq!(silence["MetricName"], "FilesArrived");
    assert_eq!((silence["Period"].clone(), silence["EvaluationPeriods"].clone()), (json!(3600), json!(36)), "36 empty hours");
    assert_eq!(silence["TreatMissingData"], "breaching", "no data is no file");
    assert!(!resources.contains_key("AsxEodNoArrivalsAlarm"), "a pipeline without alarms: gets none");
}

#[test]
fn the_alerts_email_is_optional() {
    let template = lambda::stack().to_template();
    assert_eq!(template["Parameters"]["AlertsEmail"]["Default"], "");
    let subscription = &template["Resources"]["AlertsSubscription"];
    assert_eq!(subscription["Condition"], "HasAlertsEmail");
    assert_eq!(subscription["Properties"]["Protocol"], "email");
    assert_eq!(template["Conditions"]["HasAlertsEmail"], json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "AlertsEmail" }, ""] }] }));
}
