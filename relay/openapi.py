"""The admin API's OpenAPI 3.1 document, served at `GET /api/openapi.json` (pure: no I/O).

Built from the same enums the handlers check against, so a new deployment status or action
appears here without an edit. The suite validates the document and runs generated requests
against a live app (tests/integration/test_openapi.py).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from relay import __version__
from relay.admin_input import KINDS, MAX_ID, MAX_LIST_LIMIT
from relay.config import Action
from relay.deployment import DeploymentStatus
from relay.events import Source

JSON = "application/json"
_NULLABLE_STR: dict[str, Any] = {"type": ["string", "null"]}
_NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
_ID: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_ID}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "bad input: an unknown field or parameter, a value of the wrong shape",
            401: "missing or wrong admin token", 404: "not found, or the admin API is off",
            409: "nothing to do (this delivery), or a hold covers the cluster"}
    return {str(s): _answer(text[s]) for s in (401, *statuses)}


_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT,
                          "default": 50}, "page size")
_SINCE = _query("since", {"type": "string", "format": "date-time"},
                "only rows at or after this time (ISO 8601 with a timezone)")

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": {"type": "string"}}},
    "Progress": {"type": ["object", "null"], "additionalProperties": True},
    "Deployment": {
        "type": "object",
        "required": ["id", "cluster", "action", "version", "status", "created_at", "manual"],
        "additionalProperties": True,
        "properties": {
            "id": _ID, "cluster": _ID, "action": {"type": "string"},
            "version": {"type": "string"}, "source": _NULLABLE_STR, "repo": _NULLABLE_STR,
            "ref": _NULLABLE_STR, "delivery_id": _NULLABLE_STR,
            "status": {"type": "string"},  # the enum grows (section 9): see DeploymentStatus
            "kind": {"type": "string", "enum": list(KINDS)},
            "rollback_of": {"type": ["integer", "null"]},
            "rolled_back_by": {"type": ["integer", "null"]},
            "override_reason": _NULLABLE_STR,
            "created_at": {"type": "string", "format": "date-time"},
            "triggered_at": _NULLABLE_TIME, "finished_at": _NULLABLE_TIME,
            "error": _NULLABLE_STR, "superseded_by": {"type": ["integer", "null"]},
            "manual": {"type": "boolean"}, "attempts": {"type": "integer"},
            "progress": _ref("Progress"),
            "expanded_from": {"type": "string",
                              "description": "the short SHA given, when it was expanded"},
        },
    },
    "DeploymentPage": {
        "type": "object", "required": ["deployments", "next"],
        "properties": {"deployments": {"type": "array", "items": _ref("Deployment")},
                       "next": {"type": ["integer", "null"],
                                "description": "before_id of the next page, null at the end"}},
    },
    "ManualDeployment": {
        "type": "object", "required": ["cluster", "version"], "additionalProperties": False,
        "properties": {
            "cluster": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "version": {"type": "string", "minLength": 1, "maxLength": 255,
                        "pattern": "^[A-Za-z0-9][A-Za-z0-9._/+@-]*$",
                        "description": "a full SHA, or a short one (7+ hex) relay knows for "
                                       "this cluster, a tag or a revision"},
            "action": {"type": "string", "enum": [a.value for a in Action],
                       "description": "default: the action of the first route naming the "
                                      "cluster"},
            "override_hold": {"type": "boolean", "description": "deploy during a hold "
                              "(needs a reason; without it a hold answers 409)"},
            "reason": {"type": "string", "minLength": 1, "maxLength": 500,
                       "description": "why the hold is overridden (recorded and audited)"},
        },
    },
    "Pause": {
        "type": "object", "required": ["reason"], "additionalProperties": False,
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500},
                       "until": {"type": ["string", "null"], "format": "date-time",
                                 "description": "when the pause ends; null: until resumed"}},
    },
    "PauseState": {"type": "object", "required": ["cluster", "paused"],
                   "additionalProperties": True,
                   "properties": {"cluster": _ID, "paused": {"type": "boolean"},
                                  "reason": _NULLABLE_STR, "until": _NULLABLE_TIME,
                                  "since": _NULLABLE_TIME}},
    "Holds": {
        "type": "object", "required": ["active", "next"],
        "properties": {
            "active": {"type": "array", "items": {"type": "object", "properties": {
                "cluster": _ID, "kind": {"type": "string", "enum": ["schedule", "pause"]},
                "name": {"type": "string"}, "reason": {"type": "string"},
                "since": _NULLABLE_TIME, "until": _NULLABLE_TIME}}},
            "next": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "starts_at": {"type": "string", "format": "date-time"},
                "ends_at": {"type": "string", "format": "date-time"},
                "clusters": {"type": ["array", "null"], "items": _ID},
                "repos": {"type": ["array", "null"], "items": {"type": "string"}}}}},
        },
    },
    "Quarantine": {
        "type": "object", "required": ["quarantine"],
        "properties": {"quarantine": {"type": "array", "items": {"type": "object", "properties": {
            "cluster": _ID, "version": {"type": "string"}, "deployment_id": _ID,
            "created_at": {"type": "string", "format": "date-time"},
            "reason": {"type": "string"}}}}},
    },
    "QuarantineCleared": {"type": "object", "required": ["cluster", "version", "quarantined"],
                          "properties": {"cluster": _ID, "version": {"type": "string"},
                                         "quarantined": {"type": "boolean"}}},
    "DeliverySummary": {
        "type": "object",
        "required": ["delivery_id", "source", "event", "received_at", "body_bytes"],
        "additionalProperties": True,
        "properties": {
            "delivery_id": {"type": "string"}, "source": {"type": "string"},
            "event": {"type": "string"}, "event_name": {"type": "string"},
            "received_at": {"type": "string", "format": "date-time"},
            "repo": _NULLABLE_STR, "ref": _NULLABLE_STR, "commit": _NULLABLE_STR,
            "ignored": _NULLABLE_STR, "body_bytes": {"type": "integer", "minimum": 0},
        },
    },
    "Delivery": {
        "allOf": [_ref("DeliverySummary"), {
            "type": "object", "required": ["deployments"],
            "properties": {"deployments": {"type": "array", "items": _ref("Deployment")},
                           "delivery_key": {"type": "string"},
                           "before": _NULLABLE_STR, "after": _NULLABLE_STR,
                           "content_type": {"type": "string"}},
        }],
    },
    "DeliveryPage": {
        "type": "object", "required": ["deliveries", "next"],
        "properties": {"deliveries": {"type": "array", "items": _ref("DeliverySummary")},
                       "next": {"type": ["string", "null"],
                                "description": "cursor of the next page, null at the end"}},
    },
    "Redelivery": {
        "type": "object", "required": ["delivery_id", "deployments"],
        "properties": {"delivery_id": {"type": "string"},
                       "deployments": {"type": "array", "items": _ref("Deployment")}},
    },
    "Explanation": {
        "type": "object", "required": ["repo", "ref", "matched", "routes"],
        "properties": {
            "source": _NULLABLE_STR, "repo": {"type": "string"}, "ref": {"type": "string"},
            "matched": {"type": "integer", "minimum": 0},
            "routes": {"type": "array", "items": {
                "type": "object", "required": ["matched", "reasons"],
                "properties": {"matched": {"type": "boolean"},
                               "reasons": {"type": "array", "items": {"type": "string"}}}}},
        },
    },
}


def _paths() -> dict[str, Any]:
    statuses = [s.value for s in DeploymentStatus]
    sources = [s.value for s in Source]
    return {
        "/api/openapi.json": {"get": {
            "operationId": "getOpenapi", "summary": "this document",
            "responses": {"200": {"description": "OpenAPI 3.1",
                                  "content": {JSON: {"schema": {"type": "object"}}}},
                          **_errors(400)}}},
        "/api/deployments": {
            "get": {
                "operationId": "listDeployments", "summary": "deployments, newest first",
                "parameters": [
                    _query("cluster", _ID, "only this cluster"),
                    _query("status", {"type": "string", "enum": statuses}, "only this status"),
                    _query("repo", {"type": "string"}, "only this repository (owner/name)"),
                    _query("kind", {"type": "string", "enum": list(KINDS)},
                           "push (webhook), manual (by hand), redelivery, rollback or "
                           "catch_up"),
                    _SINCE, _LIMIT,
                    _query("before_id", _ID, "the cursor: the `next` of the previous page"),
                ],
                "responses": {"200": _answer("one page", "DeploymentPage"), **_errors(400)},
            },
            "post": {
                "operationId": "createDeployment",
                "summary": "deploy a version by hand (never skipped as older)",
                "requestBody": {"required": True, "content": {
                    JSON: {"schema": _ref("ManualDeployment")}}},
                "responses": {"202": _answer("queued", "Deployment"),
                              **_errors(400, 404, 409)},
            },
        },
        "/api/deployments/{id}": {"get": {
            "operationId": "getDeployment", "summary": "one deployment",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}],
            "responses": {"200": _answer("the deployment", "Deployment"),
                          **_errors(400, 404)}}},
        "/api/deployments/{id}/cancel": {"post": {
            "operationId": "cancelDeployment",
            "summary": "end a queued or running deployment `canceled` (the platform is not "
                       "touched)",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}],
            "responses": {"200": _answer("the canceled deployment", "Deployment"),
                          **_errors(400, 404, 409)}}},
        "/api/deliveries": {"get": {
            "operationId": "listDeliveries", "summary": "stored deliveries, newest first",
            "parameters": [
                _query("source", {"type": "string", "enum": sources}, "only this git host"),
                _query("repo", {"type": "string"}, "only this repository"),
                _query("event", {"type": "string"}, "only this event kind (push, ping, ...)"),
                _SINCE, _LIMIT,
                _query("cursor", {"type": "string"}, "the `next` of the previous page"),
            ],
            "responses": {"200": _answer("one page", "DeliveryPage"), **_errors(400)}}},
        "/api/deliveries/{delivery_id}": {"get": {
            "operationId": "getDelivery", "summary": "one delivery and its deployments",
            "parameters": [{"name": "delivery_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": _answer("the delivery", "Delivery"), **_errors(400, 404)}}},
        "/api/deliveries/{delivery_id}/redeliver": {"post": {
            "operationId": "redeliver",
            "summary": "route a stored push again and queue deliberate deployments",
            "parameters": [{"name": "delivery_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"202": _answer("queued", "Redelivery"),
                          **_errors(400, 404, 409)}}},
        "/api/routes/explain": {"get": {
            "operationId": "explainRoutes", "summary": "which routes match a push, and why not",
            "parameters": [
                _query("source", {"type": "string", "enum": sources}, "the git host"),
                {**_query("repo", {"type": "string", "minLength": 1}, "owner/name"),
                 "required": True},
                {**_query("ref", {"type": "string", "minLength": 1}, "refs/heads/... or "
                          "refs/tags/..."), "required": True},
                _query("paths", {"type": "string"}, "changed files, comma-separated: show "
                       "the path filters' decision"),
                _query("message", {"type": "string"}, "the head commit message: show the "
                       "skip markers' decision"),
            ],
            "responses": {"200": _answer("one verdict per route", "Explanation"),
                          **_errors(400)}}},
        "/api/clusters/{id}/pause": {"post": {
            "operationId": "pauseCluster",
            "summary": "hold a cluster by hand: new deployments wait `held` (audited)",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Pause")}}},
            "responses": {"200": _answer("the pause", "PauseState"), **_errors(400)}}},
        "/api/clusters/{id}/resume": {"post": {
            "operationId": "resumeCluster",
            "summary": "end a cluster's pause; its newest held deployment is released",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}],
            "responses": {"200": _answer("resumed", "PauseState"), **_errors(400, 404)}}},
        "/api/holds": {"get": {
            "operationId": "listHolds",
            "summary": "what holds every cluster now, and the next scheduled windows",
            "responses": {"200": _answer("active and next holds", "Holds"), **_errors(400)}}},
        "/api/quarantine": {"get": {
            "operationId": "listQuarantine",
            "summary": "commits quarantined after a failed deployment, per cluster",
            "responses": {"200": _answer("the quarantine", "Quarantine"), **_errors(400)}}},
        "/api/quarantine/{cluster}/{version}": {"delete": {
            "operationId": "clearQuarantine", "summary": "lift a quarantine (audited)",
            "parameters": [{"name": "cluster", "in": "path", "required": True, "schema": _ID},
                           {"name": "version", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": _answer("lifted", "QuarantineCleared"),
                          **_errors(400, 404)}}},
    }


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (cached: built once per process; callers must not mutate it)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "relay admin API", "version": __version__,
                 "description": "Every path needs `Authorization: Bearer <admin token>`; "
                                "every error is `{\"error\": message}`. Unknown query "
                                "parameters and body fields are refused with 400."},
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {"schemas": _SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
