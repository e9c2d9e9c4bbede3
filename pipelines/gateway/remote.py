"""Dagster run mode: runs go to a Dagster webserver over GraphQL and the daemon launches them."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx

from lakehouse.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)
from lakehouse.health import ComponentHealth, probe
from lakehouse.settings import Settings
from pipelines.gateway.base import TENANT_TAG, RunEvent, RunGateway, RunView

if TYPE_CHECKING:
    from dagster_graphql import DagsterGraphQLClient

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId jobName status startTime endTime tags { key value } }
    ... on PythonError { message }
  }
}
"""

LOGS_QUERY = """
query Logs($runId: ID!, $limit: Int) {
  logsForRun(runId: $runId, limit: $limit) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message timestamp level stepKey eventType }
      }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

ADD_PARTITION = """
mutation AddPartition($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(
    repositorySelector: $selector, partitionsDefName: $name, partitionKey: $key
  ) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""

DELETE_PARTITION = """
mutation DeletePartition($selector: RepositorySelector!, $name: String!, $keys: [String!]!) {
  deleteDynamicPartitions(
    repositorySelector: $selector, partitionsDefName: $name, partitionKeys: $keys
  ) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""

UNFINISHED_QUERY = """
query Unfinished($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { count }
    ... on PythonError { message }
  }
}
"""

RECENT_QUERY = """
query Recent($filter: RunsFilter!, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results { runId jobName status startTime endTime tags { key value } } }
    ... on PythonError { message }
  }
}
"""

MAX_EVENTS = 100_000
UNFINISHED_STATUSES = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
# Dagster's run monitoring (enabled in dagster.yaml by pipelines.instance) fails a run that has
# been STARTED for longer than this tag says.
MAX_RUNTIME_TAG = "dagster/max_runtime"


class DagsterWebserverGateway(RunGateway):
    """Talks to a running Dagster webserver; its daemon dequeues and launches the runs."""

    mode = "dagster"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.url = settings.dagster_url.rstrip("/")

    @cached_property
    def client(self) -> DagsterGraphQLClient:
        from dagster_graphql import DagsterGraphQLClient

        parsed = urlparse(self.url)
        return DagsterGraphQLClient(
            parsed.hostname or "127.0.0.1",
            port_number=parsed.port,
            use_https=parsed.scheme == "https",
            timeout=30,
        )

    def _query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = httpx.post(
                f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(f"Dagster webserver at {self.url}: {exc}") from exc
        body = response.json()
        if body.get("errors"):
            raise ServiceUnavailableError(f"Dagster GraphQL error: {body['errors'][0]['message']}")
        data: dict[str, Any] = body["data"]
        return data

    def unfinished_runs(self, tenant_id: str) -> int:
        run_filter = {
            "tags": [{"key": TENANT_TAG, "value": tenant_id}],
            "statuses": UNFINISHED_STATUSES,
        }
        result = self._query(UNFINISHED_QUERY, {"filter": run_filter})["runsOrError"]
        if result["__typename"] != "Runs":
            raise ServiceUnavailableError(
                f"Dagster could not count runs: {result.get('message', result['__typename'])}"
            )
        return int(result["count"])

    def _launch(self, job_name: str, run_config: dict[str, Any], tags: dict[str, str]) -> str:
        from dagster_graphql import DagsterGraphQLClientError

        limit = self.settings.run_time_limit_seconds
        try:
            return self.client.submit_job_execution(
                job_name,
                repository_location_name=self.settings.dagster_location,
                run_config=run_config,
                tags={**tags, MAX_RUNTIME_TAG: f"{limit:g}"},
            )
        except DagsterGraphQLClientError as exc:
            kind = exc.args[0] if exc.args else ""
            if kind in {"JobNotFoundError", "PipelineNotFoundError"} or "not found" in str(kind):
                raise NotFoundError(f"job '{job_name}' not found", field="job_name") from exc
            if kind == "RunConfigValidationInvalid":
                raise InvalidInputError(
                    f"run_config is invalid: {exc}", field="run_config"
                ) from exc
            raise ServiceUnavailableError(f"Dagster rejected the run: {exc}") from exc

    @property
    def _repository(self) -> dict[str, str]:
        return {
            "repositoryLocationName": self.settings.dagster_location,
            "repositoryName": "__repository__",
        }

    def add_partition(self, partitions_def: str, key: str) -> None:
        variables = {"selector": self._repository, "name": partitions_def, "key": key}
        result = self._query(ADD_PARTITION, variables)["addDynamicPartition"]
        if result["__typename"] not in {
            "AddDynamicPartitionSuccess",
            "DuplicateDynamicPartitionError",
        }:
            raise ServiceUnavailableError(
                f"Dagster refused partition '{key}': {result.get('message', result['__typename'])}"
            )

    def delete_partition(self, partitions_def: str, key: str) -> None:
        variables = {"selector": self._repository, "name": partitions_def, "keys": [key]}
        result = self._query(DELETE_PARTITION, variables)["deleteDynamicPartitions"]
        if result["__typename"] != "DeleteDynamicPartitionsSuccess":
            raise ServiceUnavailableError(
                f"Dagster refused to delete partition '{key}': "
                f"{result.get('message', result['__typename'])}"
            )

    def status(self, run_id: str) -> RunView:
        result = self._query(RUN_QUERY, {"runId": run_id})["runOrError"]
        if result["__typename"] != "Run":
            raise NotFoundError(f"run '{run_id}' not found", field="run_id")
        return graphql_run(result)

    def recent_runs(self, tenant_id: str, limit: int = 50) -> list[RunView]:
        run_filter = {"tags": [{"key": TENANT_TAG, "value": tenant_id}]}
        result = self._query(RECENT_QUERY, {"filter": run_filter, "limit": limit})["runsOrError"]
        if result["__typename"] != "Runs":
            raise ServiceUnavailableError(
                f"Dagster could not list runs: {result.get('message', result['__typename'])}"
            )
        return [graphql_run(run) for run in result["results"]]

    def logs(self, run_id: str, offset: int = 0, limit: int = 500) -> list[RunEvent]:
        page_end = min(offset + limit, MAX_EVENTS)
        result = self._query(LOGS_QUERY, {"runId": run_id, "limit": page_end})["logsForRun"]
        if result["__typename"] != "EventConnection":
            raise NotFoundError(f"run '{run_id}' not found", field="run_id")
        return [
            RunEvent(
                timestamp=float(event["timestamp"]) / 1000,
                level=str(event["level"]),
                event_type=event.get("eventType"),
                step_key=event.get("stepKey"),
                message=event["message"],
            )
            for event in result["events"][offset : offset + limit]
        ]

    def cancel(self, run_id: str) -> RunView:
        from dagster_graphql import DagsterGraphQLClientError

        view = self.status(run_id)
        if view.is_finished:
            raise ConflictError(f"run '{run_id}' has already finished as {view.status}")
        try:
            self.client.terminate_run(run_id)
        except DagsterGraphQLClientError as exc:
            raise ConflictError(f"run '{run_id}' could not be terminated: {exc}") from exc
        return self.status(run_id)

    def health(self) -> ComponentHealth:
        def check() -> str:
            version = self._query("query { version }", {})["version"]
            return f"dagster: webserver {self.url} (Dagster {version})"

        return probe("dagster", check)


def graphql_run(run: dict[str, Any]) -> RunView:
    """A run as Dagster's GraphQL API describes it."""
    return RunView(
        run_id=run["runId"],
        job_name=run["jobName"],
        status=run["status"],
        tags={tag["key"]: tag["value"] for tag in run["tags"]},
        start_time=run["startTime"],
        end_time=run["endTime"],
    )
