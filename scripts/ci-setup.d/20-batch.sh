# Batch / Spark tests (tests/test_batch_spark.py) need a Java runtime for Spark local mode.
# Sourced by scripts/test.sh; idempotent and quiet.
if ! command -v java >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless) >/dev/null 2>&1 \
    || echo "20-batch.sh: could not install Java; the Spark test will be skipped" >&2
fi
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
