#!/usr/bin/env bash
# Smoke test of a deployed inlet stack: drops a sample CSV into the input
# bucket, waits for the functions to move it to done/, then counts its rows
# through Athena. Needs the AWS CLI and INPUT_BUCKET, GLUE_DATABASE, WORKGROUP.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${INPUT_BUCKET:?set INPUT_BUCKET to the stack output InputBucketName}"
: "${GLUE_DATABASE:?set GLUE_DATABASE to the stack output GlueDatabaseName}"
: "${WORKGROUP:?set WORKGROUP to the stack output WorkGroupName}"

sample=data/asx_eod_20201201.csv
expected=$(grep -c . "$sample")
run="smoke-$(date -u +%Y%m%dT%H%M%S)"
key="in/${run}/asx_eod_20201201.csv"

echo "== dropping $sample ($expected rows) at s3://$INPUT_BUCKET/$key"
aws s3 cp --only-show-errors "$sample" "s3://$INPUT_BUCKET/$key"

echo "== waiting for it to be processed"
for attempt in $(seq 1 60); do
  if aws s3api head-object --bucket "$INPUT_BUCKET" --key "done/${run}/asx_eod_20201201.csv" >/dev/null 2>&1; then
    echo "   moved to done/ after ~$((attempt * 5)) s"
    break
  fi
  if aws s3api head-object --bucket "$INPUT_BUCKET" --key "failed/${run}/asx_eod_20201201.csv.error.json" >/dev/null 2>&1; then
    aws s3 cp "s3://$INPUT_BUCKET/failed/${run}/asx_eod_20201201.csv.error.json" -
    echo "FAILED: the sample landed in failed/"; exit 1
  fi
  [ "$attempt" = 60 ] && { echo "FAILED: not processed within 5 minutes; check the pipeline-runner logs and its dead-letter queue"; exit 1; }
  sleep 5
done

# The partitioner registers the partition from its own queue: retry the query until it is visible.
sql="SELECT count(*) FROM asx_eod"
for attempt in $(seq 1 20); do
  id=$(aws athena start-query-execution --work-group "$WORKGROUP" --query-execution-context "Database=$GLUE_DATABASE" \
         --query-string "$sql" --query QueryExecutionId --output text)
  while state=$(aws athena get-query-execution --query-execution-id "$id" --query QueryExecution.Status.State --output text); \
        [ "$state" = QUEUED ] || [ "$state" = RUNNING ]; do sleep 2; done
  if [ "$state" = SUCCEEDED ]; then
    count=$(aws athena get-query-results --query-execution-id "$id" --query 'ResultSet.Rows[1].Data[0].VarCharValue' --output text)
    echo "   Athena counts $count rows (expected at least $expected)"
    [ "$count" -ge "$expected" ] && { echo "== smoke test passed"; exit 0; }
  else
    echo "   query $state: $(aws athena get-query-execution --query-execution-id "$id" --query QueryExecution.Status.StateChangeReason --output text)"
  fi
  sleep 10
done
echo "FAILED: Athena never saw the sample's rows"; exit 1
