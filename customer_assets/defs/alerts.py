"""Alerting on failed runs: an error in the Dagster log, and a JSON POST to a webhook when one is configured.

CUSTOMER_ML_ALERT_WEBHOOK_URL (read at every evaluation, so it can change without a redeploy) receives
{"text", "run_id", "job", "status", "error", "tags", "partition"}; the "text" field makes it readable by chat
webhooks (Slack, Mattermost, Teams connectors) as is. A webhook that fails is logged and never retried in a
loop: the sensor must not fail because the alert channel is down.
"""

import json
import urllib.error
import urllib.request

import dagster as dg

from customer_assets.config import automation_settings

WEBHOOK_ENV = "CUSTOMER_ML_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 5.0


def failure_payload(run, error_message: str) -> dict:
    partition = run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start")
    return {
        "text": f"customer-ml: run {run.run_id[:8]} of job {run.job_name} failed"
        + (f" (partition {partition})" if partition else "")
        + f": {error_message[:300]}",
        "run_id": run.run_id,
        "job": run.job_name,
        "status": str(run.status.value if hasattr(run.status, "value") else run.status),
        "error": error_message[:4000],
        "tags": {k: v for k, v in run.tags.items() if not k.startswith(".dagster")},
        "partition": partition,
    }


def post_json(url: str, payload: dict, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - operator-configured URL
        return response.status


def build_run_failure_alert(default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING):
    @dg.run_failure_sensor(
        name="run_failure_alert",
        default_status=default_status,
        minimum_interval_seconds=30,
        description=f"Any failed run: logs an error and POSTs a JSON alert to ${WEBHOOK_ENV} when it is set.",
    )
    def run_failure_alert(context: dg.RunFailureSensorContext):
        error = context.failure_event.message or "run failed"
        payload = failure_payload(context.dagster_run, error)
        context.log.error(f"ALERT {payload['text']}")
        url = automation_settings().alert_webhook_url
        if not url:
            return
        try:
            status = post_json(url, payload)
            context.log.info(f"alert posted to the webhook (HTTP {status})")
        except (urllib.error.URLError, OSError, ValueError) as error_:
            context.log.error(f"alert webhook {url} failed: {error_}")

    return run_failure_alert
