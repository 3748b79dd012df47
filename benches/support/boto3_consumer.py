#!/usr/bin/env python3
"""The reference for benches/worker.rs: an SQS consumer of the kind tutorials show, in boto3. One message at
a time: long poll, call the bot, put the result, delete the message.

    boto3_consumer.py ENDPOINT QUEUE_URL BUCKET BOT_URL COUNT

It stops after COUNT answered requests and prints nothing but errors.
"""
import datetime
import json
import sys
import urllib.request

import boto3
from botocore.config import Config


def without_expect(request, **_):
    request.headers.pop("Expect", None)


def main():
    endpoint, queue_url, bucket, bot_url, count = sys.argv[1:6]
    count = int(count)
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    # The SDK's standard retries, as botpub has them: the comparison is of the loops, not of the retry policy.
    retries = {"max_attempts": 10, "mode": "standard"}
    sqs = session.client("sqs", endpoint_url=endpoint, config=Config(retries=retries))
    s3 = session.client(
        "s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}, retries=retries)
    )
    # LocalStack's server (host mode) answers `Expect: 100-continue` in a way botocore misreads (every
    # PutObject fails with BadStatusLine); AWS does not need the header, so PutObject goes without it.
    s3.meta.events.register("before-send.s3.PutObject", without_expect)
    done = 0
    while done < count:
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=20, MessageAttributeNames=["All"]
        )
        for message in received.get("Messages", []):
            request_id = message["MessageAttributes"]["request_id"]["StringValue"]
            document = {"request_id": request_id, "request": json.loads(message["Body"])}
            call = urllib.request.Request(
                bot_url, data=json.dumps(document).encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(call) as reply:
                answer = json.load(reply)
            result = {
                "request_id": request_id,
                "status": "completed",
                "response": answer["response"],
                "completed_at": datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
            }
            s3.put_object(
                Bucket=bucket,
                Key=f"results/{request_id}.json",
                Body=json.dumps(result).encode(),
                ContentType="application/json",
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            done += 1


if __name__ == "__main__":
    main()
