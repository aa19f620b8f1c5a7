"""A stock Avro consumer of Corvid's alerts topic, for engine/tests/alerts_avro.rs.

Reads COUNT records from the beginning of TOPIC and decodes each value with
confluent_kafka's AvroDeserializer through the schema registry (writer schema fetched by
the id in the Confluent frame), exactly as any downstream consumer would. Prints one JSON
line per record: {"key": ..., "schemaId": <id in the frame>, "subjectSchemaId": <id of the
latest schema under TOPIC-value>, "value": {decoded alert}}.

Exits 1 with a message on stderr if COUNT records have not arrived within --timeout
seconds or a record does not decode.
"""

import argparse
import json
import sys
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    registry = SchemaRegistryClient({"url": args.registry})
    deserialize = AvroDeserializer(registry)
    subject_schema_id = registry.get_latest_version(f"{args.topic}-value").schema_id
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": f"corvid-avro-alerts-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    deadline = time.monotonic() + args.timeout
    try:
        # Assigned, not subscribed: no group rebalance to wait for.
        while True:
            topic = consumer.list_topics(args.topic, timeout=10).topics.get(args.topic)
            if topic is not None and topic.error is None and topic.partitions:
                break
            if time.monotonic() > deadline:
                print(f"topic {args.topic} never appeared", file=sys.stderr)
                return 1
            time.sleep(0.2)
        consumer.assign(
            [TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in sorted(topic.partitions)]
        )
        context = SerializationContext(args.topic, MessageField.VALUE)
        seen = 0
        while seen < args.count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                print(
                    f"read {seen} of {args.count} records from {args.topic} in {args.timeout}s",
                    file=sys.stderr,
                )
                return 1
            message = consumer.poll(min(remaining, 1.0))
            if message is None:
                continue
            if message.error() is not None:
                print(f"consume {args.topic}: {message.error()}", file=sys.stderr)
                return 1
            payload = message.value() or b""
            try:
                value = deserialize(payload, context)
            except Exception as error:  # any decoding failure fails the test, with its cause
                print(
                    f"record at {args.topic}/{message.partition()}@{message.offset()} "
                    f"does not decode: {error!r}",
                    file=sys.stderr,
                )
                return 1
            key = message.key()
            print(
                json.dumps(
                    {
                        "key": key.decode("utf-8", "replace") if key is not None else None,
                        "schemaId": int.from_bytes(payload[1:5], "big"),
                        "subjectSchemaId": subject_schema_id,
                        "value": value,
                    },
                    sort_keys=True,
                ),
                flush=True,
            )
            seen += 1
        return 0
    finally:
        consumer.close()


if __name__ == "__main__":
    sys.exit(main())
